# required-labels: every object carries the labels the team requires (parameter `labels`,
# default `app.kubernetes.io/name`); workloads' pod templates carry them too.
package driftless.builtin.required_labels

labels := data.driftless.params["required-labels"].labels

deny contains {"msg": sprintf("label %q is missing", [l]), "field": "metadata.labels"} if {
	some l in labels
	not input.metadata.labels[l]
}

deny contains {"msg": sprintf("label %q is missing on the pod template", [l]), "field": "spec.template.metadata.labels"} if {
	input.kind in data.driftless.lib.workload_kinds
	some l in labels
	not input.spec.template.metadata.labels[l]
}
