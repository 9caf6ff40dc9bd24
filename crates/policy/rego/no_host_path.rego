# no-host-path: no hostPath volume.
package driftless.builtin.no_host_path

deny contains {"msg": sprintf("volume %q mounts the host path %q", [v.name, v.hostPath.path]), "field": sprintf("%s.volumes[%d].hostPath", [data.driftless.lib.pod_path, i])} if {
	some i, v in data.driftless.lib.pod_spec.volumes
	v.hostPath
}
