// Package render turns the confidential-VM contract templates of
// contracts/ (frontend, backend, grep11) into workload sections without
// Terraform. It reads the subset of HCL that variables.tf and
// terraform.tfvars use, renders the *.yml.tftpl templates with the subset
// of Terraform's template language they use (so `terraform apply` with the
// user_data_*.tf files gives the same text), checks the result, packs the
// pod spec into the play archive and, where the platform's encryption
// tool is installed, encrypts the workload.
//
// Rendering is all or nothing: every missing variable, unknown name or
// unsupported construct is reported at once, by name, and no file is
// written unless everything succeeded. Values are never printed.
package render
