# no-privileged: no privileged container, no privilege escalation explicitly allowed.
package driftless.builtin.no_privileged

deny contains {"msg": sprintf("container %q runs privileged", [x.c.name]), "field": sprintf("%s.securityContext.privileged", [x.path])} if {
	some x in data.driftless.lib.containers
	x.c.securityContext.privileged == true
}

deny contains {"msg": sprintf("container %q allows privilege escalation", [x.c.name]), "field": sprintf("%s.securityContext.allowPrivilegeEscalation", [x.path])} if {
	some x in data.driftless.lib.containers
	x.c.securityContext.allowPrivilegeEscalation == true
}
