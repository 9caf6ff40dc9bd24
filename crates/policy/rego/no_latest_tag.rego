# no-latest-tag: every image names a tag other than `latest`, or a digest.
package driftless.builtin.no_latest_tag

untagged(image) if {
	not contains(image, "@")
	parts := split(image, "/")
	not contains(parts[count(parts) - 1], ":")
}

latest(image) if {
	not contains(image, "@")
	endswith(image, ":latest")
}

deny contains {"msg": sprintf("container %q uses image %q without a tag; pin a version or a digest", [x.c.name, x.c.image]), "field": sprintf("%s.image", [x.path])} if {
	some x in data.driftless.lib.containers
	untagged(x.c.image)
}

deny contains {"msg": sprintf("container %q uses the `latest` tag (%q); pin a version or a digest", [x.c.name, x.c.image]), "field": sprintf("%s.image", [x.path])} if {
	some x in data.driftless.lib.containers
	latest(x.c.image)
}
