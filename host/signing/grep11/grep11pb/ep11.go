package grep11pb

// PKCS#11 and EP11 constants used on the wire. They are untyped so that
// they fit both Mechanism.Mechanism and the attribute map keys (uint64).
const (
	// CKM_EC_KEY_PAIR_GEN generates an elliptic-curve key pair; the curve
	// is the public template's CKA_EC_PARAMS.
	MechECKeyPairGen = 0x1040
	// CKM_ECDSA signs a caller-supplied digest; the signature is the raw
	// r||s.
	MechECDSA = 0x1041
	// EP11's vendor mechanism for pure Ed25519 (CKM_VENDOR_DEFINED +
	// 0x1001C): the data is the message itself.
	MechED25519SHA512 = 0x8001001C
)

// PKCS#11 attribute types (CKA_*), the keys of templates and of
// KeyBlob.Attributes.
const (
	AttrToken       = 0x001
	AttrSign        = 0x108
	AttrVerify      = 0x10A
	AttrExtractable = 0x162
	AttrECParams    = 0x180
	// AttrECPoint is the public point as a DER OCTET STRING.
	AttrECPoint = 0x181
)

// Curve object identifiers in DER, the values of CKA_EC_PARAMS.
const (
	// OIDSecp256k1 is 1.3.132.0.10.
	OIDSecp256k1 = "\x06\x05\x2b\x81\x04\x00\x0a"
	// OIDEd25519 is 1.3.101.112.
	OIDEd25519 = "\x06\x03\x2b\x65\x70"
)

// PKCS#11 return values (CKR_*) carried in [Grep11Error.Code].
const (
	CKRArgumentsBad          = 0x007
	CKRAttributeValueInvalid = 0x013
	CKRDataLenRange          = 0x021
	CKRKeyTypeInconsistent   = 0x063
	CKRMechanismInvalid      = 0x070
	CKRSignatureInvalid      = 0x0C0
	CKRTemplateIncomplete    = 0x0D0
	CKRWrappedKeyInvalid     = 0x110
	CKRCurveNotSupported     = 0x140
)
