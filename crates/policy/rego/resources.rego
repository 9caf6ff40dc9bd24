# resources: every container sets the resource requests and limits the team requires
# (parameters `requests` and `limits`, lists of resource names; default requests cpu and
# memory, limits memory).
package driftless.builtin.resources

params := data.driftless.params.resources

deny contains {"msg": sprintf("container %q sets no %s request", [x.c.name, r]), "field": sprintf("%s.resources.requests.%s", [x.path, r])} if {
	some x in data.driftless.lib.containers
	some r in params.requests
	not x.c.resources.requests[r]
}

deny contains {"msg": sprintf("container %q sets no %s limit", [x.c.name, r]), "field": sprintf("%s.resources.limits.%s", [x.path, r])} if {
	some x in data.driftless.lib.containers
	some r in params.limits
	not x.c.resources.limits[r]
}
