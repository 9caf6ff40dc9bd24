# no-default-namespace: nothing is deployed into the `default` namespace.
package driftless.builtin.no_default_namespace

deny contains {"msg": "object is placed in the `default` namespace", "field": "metadata.namespace"} if {
	input.metadata.namespace == "default"
}
