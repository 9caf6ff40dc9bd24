# run-as-non-root: every container runs as non-root, set on the pod or on the container,
# and no container or pod asks for user 0.
package driftless.builtin.run_as_non_root

pod := data.driftless.lib.pod_spec

deny contains {"msg": sprintf("container %q may run as root: set securityContext.runAsNonRoot: true on the pod or the container", [x.c.name]), "field": sprintf("%s.securityContext.runAsNonRoot", [x.path])} if {
	some x in data.driftless.lib.containers
	not x.c.securityContext.runAsNonRoot == true
	not pod_non_root_kept(x.c)
}

pod_non_root_kept(c) if {
	pod.securityContext.runAsNonRoot == true
	not c.securityContext.runAsNonRoot == false
}

deny contains {"msg": sprintf("container %q runs as user 0", [x.c.name]), "field": sprintf("%s.securityContext.runAsUser", [x.path])} if {
	some x in data.driftless.lib.containers
	x.c.securityContext.runAsUser == 0
}

deny contains {"msg": "pod runs as user 0", "field": sprintf("%s.securityContext.runAsUser", [data.driftless.lib.pod_path])} if {
	pod.securityContext.runAsUser == 0
}
