// Package contracts holds osohost's deployment material and its checks:
// the confidential-VM (HPVS) workload templates of frontend/, backend/ and
// grep11/ with their create-*.sh scripts, the podman play manifests of
// local/, the kustomize base and overlays of kubernetes/ and the image
// build of image/. It has no Go API; its tests render every template, feed
// the rendered environment to `osohost config`, build the kustomize
// overlays and, where podman is installed, the container image. See
// README.md and docs/deploy.md.
package contracts
