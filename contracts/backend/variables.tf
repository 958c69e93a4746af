# Variables of the backend's workload. create-backend.sh reads them
# without Terraform (literal defaults only); user_data_backend.tf passes
# them to the templates for `terraform apply`. A variable without a
# default is required and must not be empty.

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

variable "BACKEND_PLUGIN_IMAGE" {
  type        = string
  description = "The component's image, with its registry, preferably by digest: the osohost image with the ISV's plugin"
}

variable "PLUGIN_APPLICATION" {
  type        = string
  description = "Path of the backend plugin's .wasm file inside the image (PLUGIN__APPLICATION)"
}

variable "APP_NAME" {
  type        = string
  description = "Component name in logs and metrics (APP__NAME)"
  default     = "backend"
}

variable "LOGGING_LEVEL" {
  type        = string
  description = "LOGGING__LEVEL: critical, error, warning, info or debug (debug never logs secrets or payloads)"
  default     = "info"
}

variable "PORT" {
  type        = string
  description = "Port the mTLS API is published on"
  default     = "4000"
}

variable "CERTS_CA" {
  type        = string
  description = "CERTS__CA: PEM of the CA(s) that OSO client certificates chain to"
}

variable "CERTS_APP_CRT" {
  type        = string
  description = "CERTS__APP_CRT: PEM of the component's server certificate, optionally followed by its chain"
}

variable "CERTS_APP_KEY" {
  type        = string
  description = "CERTS__APP_KEY: PEM of the server certificate's private key"
  sensitive   = true
}

variable "ALLOWLIST" {
  type        = string
  description = "AUTH__PARSERS__0__ALLOWLIST: JSON object, allowlist name to SHA256 fingerprints of client keys, e.g. {\"component\": [\"SHA256:...\"]}"
}

variable "WORKLOAD_VOL_SEED" {
  type        = string
  description = "Workload seed of the encrypted data volume that holds the component's state"
  sensitive   = true
}

variable "GREP11_ENDPOINT" {
  type        = string
  description = "GREP11 server, host:port (PLUGIN__ADDONS__0__GREP11_ENDPOINT), e.g. <prefix>-cs-backend-grep11.control23.dap.local:9876"
}

variable "GREP11_CA" {
  type        = string
  description = "CA certificate of the GREP11 server (base64 of the PEM text)"
}

variable "GREP11_CLIENT_CERT" {
  type        = string
  description = "Client certificate for the GREP11 server (base64 of the PEM text)"
}

variable "GREP11_CLIENT_KEY" {
  type        = string
  description = "Client key for the GREP11 server, PKCS#8 (base64 of the PEM text)"
  sensitive   = true
}

variable "KEYSTORE_PATH" {
  type        = string
  description = "Keystore directory on the encrypted volume (<path>/<TYPE>/<id>.key|.pub, the framework's layout)"
  default     = "/app-root/keystore"
}

# Add ISV variables here, and use them in backend.yml.tftpl as tpl.<name in lower case>. #
