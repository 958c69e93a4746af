# For operators who render with Terraform (or OpenTofu) and the hpcr
# provider instead of ../create-grep11.sh: `terraform apply` renders the same
# templates with the same values, packs the pod spec into the play archive
# and encrypts the workload into ../output/grep11/user-data.

locals {
  # Every variable the templates read, as tpl.<name in lower case>.
  tpl = {
    image              = var.IMAGE
    port               = var.PORT
    grep11_server_cert = var.GREP11_SERVER_CERT
    grep11_server_key  = var.GREP11_SERVER_KEY
    grep11_client_ca   = var.GREP11_CLIENT_CA
    workload_vol_seed  = var.WORKLOAD_VOL_SEED
  }
}

resource "local_file" "play" {
  content         = templatefile("${path.module}/grep11.yml.tftpl", { tpl = local.tpl })
  filename        = "${path.module}/grep11/podman-play.yml"
  file_permission = "0600"
}

# The folder holding the pod spec, as base64 of a tar.gz: play.archive.
resource "hpcr_tgz" "play" {
  depends_on = [local_file.play]
  folder     = "${path.module}/grep11"
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
  filename        = "${path.module}/../output/grep11/user-data"
  file_permission = "0644"
}

resource "local_file" "plain" {
  count           = var.DEBUG ? 1 : 0
  content         = local.workload
  filename        = "${path.module}/../output/grep11/workload.plain.yml"
  file_permission = "0600"
}
