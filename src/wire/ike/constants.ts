// IANA numbers of IKEv2 (registry "Internet Key Exchange Version 2 (IKEv2) Parameters"),
// from RFC 7296 §3 and the RFCs named beside each value. Only numbers live here; the
// codecs (payloads.ts, ...) say which of them they understand. Transform IDs (ENCR, PRF,
// INTEG, KE groups) are the crypto registry's business (src/crypto/registry.ts), except
// the two ESN values, which are pure wire flags.

// RFC 7296 §3.1 "Exchange Type".
export const ExchangeType = {
  IKE_SA_INIT: 34,
  IKE_AUTH: 35,
  CREATE_CHILD_SA: 36,
  INFORMATIONAL: 37,
  IKE_SESSION_RESUME: 38, // RFC 5723
  IKE_INTERMEDIATE: 43, // RFC 9242
  IKE_FOLLOWUP_KE: 44, // RFC 9370
} as const;

// RFC 7296 §3.2 "Next Payload" values.
export const PayloadType = {
  NONE: 0,
  SA: 33,
  KE: 34,
  IDI: 35,
  IDR: 36,
  CERT: 37,
  CERTREQ: 38,
  AUTH: 39,
  NONCE: 40,
  NOTIFY: 41,
  DELETE: 42,
  VENDOR_ID: 43,
  TSI: 44,
  TSR: 45,
  SK: 46,
  CP: 47,
  EAP: 48,
  GSPM: 49, // RFC 6467 (not understood here)
  SKF: 53, // RFC 7383 §2.5
  PS: 54, // RFC 8019 puzzle solution (not understood here)
} as const;

// RFC 7296 §3.3.1 "Protocol ID" of proposals, Notify (§3.10) and Delete (§3.11).
export const ProtocolId = {
  NONE: 0, // Notify without SPI
  IKE: 1,
  AH: 2,
  ESP: 3,
} as const;

// RFC 7296 §3.3.2 "Transform Type".
export const TransformType = {
  ENCR: 1,
  PRF: 2,
  INTEG: 3,
  KE: 4, // "Diffie-Hellman group (D-H)", renamed "Key Exchange Method" by RFC 9370
  ESN: 5,
  ADDKE1: 6, // RFC 9370 additional key exchanges 1..7
  ADDKE2: 7,
  ADDKE3: 8,
  ADDKE4: 9,
  ADDKE5: 10,
  ADDKE6: 11,
  ADDKE7: 12,
} as const;

// RFC 7296 §3.3.2 Transform Type 5 IDs.
export const EsnId = {
  NO_ESN: 0,
  ESN: 1,
} as const;

// RFC 7296 §3.3.5 "Attribute Type" (the only one IKEv2 defines).
export const TransformAttributeType = {
  KEY_LENGTH: 14, // TV format, value in bits
} as const;

// RFC 7296 §3.5 "ID Type".
export const IdType = {
  IPV4_ADDR: 1,
  FQDN: 2,
  RFC822_ADDR: 3,
  IPV6_ADDR: 5,
  DER_ASN1_DN: 9,
  DER_ASN1_GN: 10,
  KEY_ID: 11,
  FC_NAME: 12, // RFC 4595
  NULL: 13, // RFC 7619
} as const;

// RFC 7296 §3.6 "Certificate Encoding" (CERT and CERTREQ).
export const CertEncoding = {
  PKCS7_X509: 1,
  PGP: 2,
  DNS_SIGNED_KEY: 3,
  X509_SIGNATURE: 4,
  KERBEROS_TOKEN: 6,
  CRL: 7,
  ARL: 8,
  SPKI: 9,
  X509_ATTRIBUTE: 10,
  RAW_RSA_KEY: 11,
  HASH_URL_X509_CERT: 12,
  HASH_URL_X509_BUNDLE: 13,
  OCSP_CONTENT: 14, // RFC 4806
  RAW_PUBLIC_KEY: 15, // RFC 7670
} as const;

// RFC 7296 §3.8 "Auth Method".
export const AuthMethod = {
  RSA_SIG: 1,
  SHARED_KEY_MIC: 2,
  DSS_SIG: 3,
  ECDSA_SHA256_P256: 9, // RFC 4754
  ECDSA_SHA384_P384: 10,
  ECDSA_SHA512_P521: 11,
  GSPAM: 12, // RFC 6467
  NULL: 13, // RFC 7619
  DIGITAL_SIGNATURE: 14, // RFC 7427
} as const;

// RFC 7427 §7 "IKEv2 Hash Algorithms" (SIGNATURE_HASH_ALGORITHMS notification data).
export const HashAlgorithm = {
  SHA1: 1,
  SHA2_256: 2,
  SHA2_384: 3,
  SHA2_512: 4,
  IDENTITY: 5, // RFC 8420
} as const;

// RFC 7296 §3.10.1 error types (all of them), plus the registry's later errors.
export const NotifyErrorType = {
  UNSUPPORTED_CRITICAL_PAYLOAD: 1,
  INVALID_IKE_SPI: 4,
  INVALID_MAJOR_VERSION: 5,
  INVALID_SYNTAX: 7,
  INVALID_MESSAGE_ID: 9,
  INVALID_SPI: 11,
  NO_PROPOSAL_CHOSEN: 14,
  INVALID_KE_PAYLOAD: 17,
  AUTHENTICATION_FAILED: 24,
  SINGLE_PAIR_REQUIRED: 34,
  NO_ADDITIONAL_SAS: 35,
  INTERNAL_ADDRESS_FAILURE: 36,
  FAILED_CP_REQUIRED: 37,
  TS_UNACCEPTABLE: 38,
  INVALID_SELECTORS: 39,
  UNACCEPTABLE_ADDRESSES: 40, // RFC 4555
  UNEXPECTED_NAT_DETECTED: 41, // RFC 4555
  USE_ASSIGNED_HOA: 42, // RFC 5026
  TEMPORARY_FAILURE: 43,
  CHILD_SA_NOT_FOUND: 44,
  INVALID_GROUP_ID: 45, // RFC 6407
  AUTHORIZATION_FAILED: 46, // RFC 6407
} as const;

// RFC 7296 §3.10.1 status types (all of them), plus the registry's status types
// 16396..16440 (MOBIKE RFC 4555, RFC 7383 fragmentation, RFC 7427 signatures, ...).
export const NotifyStatusType = {
  INITIAL_CONTACT: 16384,
  SET_WINDOW_SIZE: 16385,
  ADDITIONAL_TS_POSSIBLE: 16386,
  IPCOMP_SUPPORTED: 16387,
  NAT_DETECTION_SOURCE_IP: 16388,
  NAT_DETECTION_DESTINATION_IP: 16389,
  COOKIE: 16390,
  USE_TRANSPORT_MODE: 16391,
  HTTP_CERT_LOOKUP_SUPPORTED: 16392,
  REKEY_SA: 16393,
  ESP_TFC_PADDING_NOT_SUPPORTED: 16394,
  NON_FIRST_FRAGMENTS_ALSO: 16395,
  MOBIKE_SUPPORTED: 16396,
  ADDITIONAL_IP4_ADDRESS: 16397,
  ADDITIONAL_IP6_ADDRESS: 16398,
  NO_ADDITIONAL_ADDRESSES: 16399,
  UPDATE_SA_ADDRESSES: 16400,
  COOKIE2: 16401,
  NO_NATS_ALLOWED: 16402,
  AUTH_LIFETIME: 16403, // RFC 4478
  MULTIPLE_AUTH_SUPPORTED: 16404, // RFC 4739
  ANOTHER_AUTH_FOLLOWS: 16405,
  REDIRECT_SUPPORTED: 16406, // RFC 5685
  REDIRECT: 16407,
  REDIRECTED_FROM: 16408,
  TICKET_LT_OPAQUE: 16409, // RFC 5723
  TICKET_REQUEST: 16410,
  TICKET_ACK: 16411,
  TICKET_NACK: 16412,
  TICKET_OPAQUE: 16413,
  LINK_ID: 16414,
  USE_WESP_MODE: 16415,
  ROHC_SUPPORTED: 16416,
  EAP_ONLY_AUTHENTICATION: 16417, // RFC 5998
  CHILDLESS_IKEV2_SUPPORTED: 16418, // RFC 6023
  QUICK_CRASH_DETECTION: 16419, // RFC 6290
  IKEV2_MESSAGE_ID_SYNC_SUPPORTED: 16420, // RFC 6311
  IPSEC_REPLAY_COUNTER_SYNC_SUPPORTED: 16421,
  IKEV2_MESSAGE_ID_SYNC: 16422,
  IPSEC_REPLAY_COUNTER_SYNC: 16423,
  SECURE_PASSWORD_METHODS: 16424, // RFC 6467
  PSK_PERSIST: 16425, // RFC 6631
  PSK_CONFIRM: 16426,
  ERX_SUPPORTED: 16427, // RFC 6867
  IFOM_CAPABILITY: 16428,
  SENDER_REQUEST_ID: 16429,
  IKEV2_FRAGMENTATION_SUPPORTED: 16430, // RFC 7383
  SIGNATURE_HASH_ALGORITHMS: 16431, // RFC 7427
  CLONE_IKE_SA_SUPPORTED: 16432, // RFC 7791
  CLONE_IKE_SA: 16433,
  PUZZLE: 16434, // RFC 8019
  USE_PPK: 16435, // RFC 8784
  PPK_IDENTITY: 16436,
  NO_PPK_AUTH: 16437,
  INTERMEDIATE_EXCHANGE_SUPPORTED: 16438, // RFC 9242
  IP4_ALLOWED: 16439, // RFC 8983
  IP6_ALLOWED: 16440,
} as const;

export const NotifyType = { ...NotifyErrorType, ...NotifyStatusType } as const;

// RFC 7296 §3.10.1: types below 16384 are errors ("An implementation receiving a Notify
// payload with one of these types that it does not recognize in a response MUST assume
// that the corresponding request has failed entirely").
export const NOTIFY_STATUS_MIN = 16384;

export function isNotifyError(notifyType: number): boolean {
  return notifyType > 0 && notifyType < NOTIFY_STATUS_MIN;
}

// RFC 7296 §3.13.1 "TS Type".
export const TsType = {
  IPV4_ADDR_RANGE: 7,
  IPV6_ADDR_RANGE: 8,
  FC_ADDR_RANGE: 9, // RFC 4595 (kept as raw bytes)
} as const;

// RFC 7296 §3.15 "CFG Type".
export const CfgType = {
  REQUEST: 1,
  REPLY: 2,
  SET: 3,
  ACK: 4,
} as const;

// RFC 7296 §3.15.1 "Configuration Attributes" (5, 9, 11 were removed from RFC 4306).
export const CpAttributeType = {
  INTERNAL_IP4_ADDRESS: 1,
  INTERNAL_IP4_NETMASK: 2,
  INTERNAL_IP4_DNS: 3,
  INTERNAL_IP4_NBNS: 4,
  INTERNAL_IP4_DHCP: 6,
  APPLICATION_VERSION: 7,
  INTERNAL_IP6_ADDRESS: 8,
  INTERNAL_IP6_DNS: 10,
  INTERNAL_IP6_DHCP: 12,
  INTERNAL_IP4_SUBNET: 13,
  SUPPORTED_ATTRIBUTES: 14,
  INTERNAL_IP6_SUBNET: 15,
  MIP6_HOME_PREFIX: 16, // RFC 5026
  INTERNAL_IP6_LINK: 17, // RFC 5739
  INTERNAL_IP6_PREFIX: 18,
  HOME_AGENT_ADDRESS: 19, // RFC 5026 (draft)
  P_CSCF_IP4_ADDRESS: 20, // RFC 7651
  P_CSCF_IP6_ADDRESS: 21,
} as const;

type Table = Readonly<Record<string, number>>;

// Name of `value` in one of the tables above (for logs), or "<prefix>(n)" when unknown.
export function nameOf(table: Table, value: number, prefix = 'UNKNOWN'): string {
  for (const [k, v] of Object.entries(table)) if (v === value) return k;
  return `${prefix}(${value})`;
}
