# no-host-namespaces: no hostNetwork, hostPID or hostIPC.
package driftless.builtin.no_host_namespaces

deny contains {"msg": sprintf("pod uses the host's namespace (%s: true)", [f]), "field": sprintf("%s.%s", [data.driftless.lib.pod_path, f])} if {
	some f in ["hostNetwork", "hostPID", "hostIPC"]
	data.driftless.lib.pod_spec[f] == true
}
