# probes: every container of a long-running workload has a readiness and a liveness probe.
package driftless.builtin.probes

deny contains {"msg": sprintf("container %q has no %s", [x.c.name, p]), "field": sprintf("%s.%s", [x.path, p])} if {
	data.driftless.lib.long_running
	some x in data.driftless.lib.main_containers
	some p in ["readinessProbe", "livenessProbe"]
	not x.c[p]
}
