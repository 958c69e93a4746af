# For operators who render with Terraform (or OpenTofu) and the hpcr
# provider instead of ../create-frontend.sh: `terraform apply` renders the same
# templates with the same values, packs the pod spec into the play archive
# and encrypts the workload into ../output/frontend/user-data.

locals {
  # Every variable the templates read, as tpl.<name in lower case>.
  tpl = {
    frontend_plugin_image = var.FRONTEND_PLUGIN_IMAGE
    plugin_application    = var.PLUGIN_APPLICATION
    app_name              = var.APP_NAME
    logging_level         = var.LOGGING_LEVEL
    port                  = var.PORT
    certs_ca              = var.CERTS_CA
    certs_app_crt         = var.CERTS_APP_CRT
    certs_app_key         = var.CERTS_APP_KEY
    allowlist             = var.ALLOWLIST
    workload_vol_seed     = var.WORKLOAD_VOL_SEED
  }
}

resource "local_file" "play" {
  content         = templatefile("${path.module}/frontend.yml.tftpl", { tpl = local.tpl })
  filename        = "${path.module}/frontend/podman-play.yml"
  file_permission = "0600"
}

# The folder holding the pod spec, as base64 of a tar.gz: play.archive.
resource "hpcr_tgz" "play" {
  depends_on = [local_file.play]
  folder     = "${path.module}/frontend"
}

locals {
  workload = templatefile("${path.module}/workload.yml.tftpl", {
    tpl = merge(local.tpl, { play_archive = hpcr_tgz.play.rendered })
  })
}

resource "hpcr_text_encrypted" "workload" {
  text = local.workload
  cert = var.HPCR_CERT == "" ? null : var.HPCR_CERT
}

resource "local_file" "user_data" {
  content         = hpcr_text_encrypted.workload.rendered
  filename        = "${path.module}/../output/frontend/user-data"
  file_permission = "0644"
}

resource "local_file" "plain" {
  count           = var.DEBUG ? 1 : 0
  content         = local.workload
  filename        = "${path.module}/../output/frontend/workload.plain.yml"
  file_permission = "0600"
}
