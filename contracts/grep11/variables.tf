# Variables of the development GREP11 server's workload. create-grep11.sh
# reads them without Terraform (literal defaults only); user_data_grep11.tf
# passes them to the templates for `terraform apply`. A variable without a
# default is required and must not be empty.
#
# The certificates: `osohost certs dev --out grep11-pki` writes a CA, a
# server certificate and a client certificate. The server certificate must
# name the host the backend dials (GREP11_ENDPOINT of the backend).

variable "DEBUG" {
  type        = bool
  description = "Keep the plaintext workload and pod spec next to the encrypted one"
  default     = false
}

variable "HPCR_CERT" {
  type        = string
  description = "Encryption certificate of the confidential-VM image (PEM); empty: the tool's built-in one"
  default     = ""
}

variable "IMAGE" {
  type        = string
  description = "The grep11dev image with its registry, preferably by digest"
}

variable "PORT" {
  type        = string
  description = "Port the GREP11 server is published on"
  default     = "9876"
}

variable "GREP11_SERVER_CERT" {
  type        = string
  description = "PEM of the GREP11 server's certificate"
}

variable "GREP11_SERVER_KEY" {
  type        = string
  description = "PEM of the GREP11 server's private key"
  sensitive   = true
}

variable "GREP11_CLIENT_CA" {
  type        = string
  description = "PEM of the CA that the backend's client certificate chains to"
}

variable "WORKLOAD_VOL_SEED" {
  type        = string
  description = "Workload seed of the encrypted data volume that holds the master key"
  sensitive   = true
}
