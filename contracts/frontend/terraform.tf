terraform {
  required_providers {
    hpcr = {
      source  = "ibm-hyper-protect/hpcr"
      version = ">= 0.11.0"
    }
    local = {
      source = "hashicorp/local"
    }
  }
}
