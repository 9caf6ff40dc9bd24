# Helpers shared by the built-in policies: where an object keeps its pod spec, and every
# container with the field path it sits at.
package driftless.lib

workload_kinds := {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "ReplicationController"}

pod_path := "spec" if input.kind == "Pod"

pod_path := "spec.template.spec" if input.kind in workload_kinds

pod_path := "spec.jobTemplate.spec.template.spec" if input.kind == "CronJob"

pod_spec := input.spec if input.kind == "Pod"

pod_spec := input.spec.template.spec if input.kind in workload_kinds

pod_spec := input.spec.jobTemplate.spec.template.spec if input.kind == "CronJob"

# Every container of the pod spec (init and ephemeral included) with its field path.
containers contains {"c": c, "path": sprintf("%s.%s[%d]", [pod_path, list, i])} if {
	some list in ["containers", "initContainers", "ephemeralContainers"]
	some i, c in pod_spec[list]
}

# Only the long-running containers (probes make no sense on init containers).
main_containers contains {"c": c, "path": sprintf("%s.containers[%d]", [pod_path, i])} if {
	some i, c in pod_spec.containers
}

long_running if input.kind in {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Pod"}
