import { KeyObject, createPrivateKey, createPublicKey, webcrypto } from 'node:crypto';

/** Key types the toolkit issues; both are accepted by Go's TLS stack, Node's TLS and Kubernetes' token signer. */
export type KeyAlgorithm = 'ecdsa-p256' | 'rsa-2048';

export const defaultKeyAlgorithm: KeyAlgorithm = 'ecdsa-p256';

/** A key pair as PEM text: PKCS#8 `PRIVATE KEY` and SPKI `PUBLIC KEY`. */
export interface PemKeyPair {
  readonly privateKeyPem: string;
  readonly publicKeyPem: string;
}

type SigningParams = webcrypto.RsaHashedImportParams | webcrypto.EcKeyImportParams;

const signingParams: Record<KeyAlgorithm, SigningParams> = {
  'ecdsa-p256': { name: 'ECDSA', namedCurve: 'P-256' },
  'rsa-2048': { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
};

const generateParams: Record<KeyAlgorithm, webcrypto.RsaHashedKeyGenParams | webcrypto.EcKeyGenParams> = {
  'ecdsa-p256': { name: 'ECDSA', namedCurve: 'P-256' },
  'rsa-2048': { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
};

/** Generates a signing key pair as WebCrypto keys (extractable, so they can be written out as PEM). */
export async function generateCryptoKeyPair(algorithm: KeyAlgorithm): Promise<webcrypto.CryptoKeyPair> {
  return webcrypto.subtle.generateKey(generateParams[algorithm], true, ['sign', 'verify']);
}

/** Generates a key pair as PEM, e.g. the service-account token signing key of a cluster. */
export async function generateKeyPair(algorithm: KeyAlgorithm = defaultKeyAlgorithm): Promise<PemKeyPair> {
  const keys = await generateCryptoKeyPair(algorithm);
  return { privateKeyPem: privateKeyToPem(keys.privateKey), publicKeyPem: publicKeyToPem(keys.publicKey) };
}

export function privateKeyToPem(key: webcrypto.CryptoKey): string {
  return exportPem(KeyObject.from(key), 'pkcs8');
}

export function publicKeyToPem(key: webcrypto.CryptoKey): string {
  return exportPem(KeyObject.from(key), 'spki');
}

/** The SPKI public key PEM that belongs to a private key PEM. */
export function publicKeyPemOf(privateKeyPem: string): string {
  return exportPem(createPublicKey(parsePrivateKey(privateKeyPem)), 'spki');
}

/**
 * Imports a private key PEM (PKCS#8, PKCS#1 `RSA PRIVATE KEY` or SEC1 `EC PRIVATE KEY`) as a WebCrypto signing
 * key, detecting whether it is RSA or P-256 so callers need not remember how a CA key was made.
 */
export async function importSigningKey(privateKeyPem: string): Promise<{ key: webcrypto.CryptoKey; algorithm: KeyAlgorithm }> {
  const keyObject = parsePrivateKey(privateKeyPem);
  const algorithm = keyAlgorithmOf(keyObject);
  const der = keyObject.export({ type: 'pkcs8', format: 'der' });
  const key = await webcrypto.subtle.importKey('pkcs8', der, signingParams[algorithm], false, ['sign']);
  return { key, algorithm };
}

function parsePrivateKey(pem: string): KeyObject {
  try {
    return createPrivateKey({ key: pem, format: 'pem' });
  } catch (error) {
    throw new Error(`not a PEM private key: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
}

function keyAlgorithmOf(key: KeyObject): KeyAlgorithm {
  const details = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType === 'ec' && details?.namedCurve === 'prime256v1') return 'ecdsa-p256';
  if (key.asymmetricKeyType === 'rsa' && (details?.modulusLength ?? 0) >= 2048) return 'rsa-2048';
  const detail = details?.namedCurve ?? (details?.modulusLength ? `${details.modulusLength} bits` : 'unknown size');
  throw new Error(`unsupported private key: ${key.asymmetricKeyType ?? 'unknown type'} (${detail}); use ECDSA P-256 or RSA >= 2048 bits`);
}

function exportPem(key: KeyObject, type: 'pkcs8' | 'spki'): string {
  return type === 'pkcs8' ? key.export({ type: 'pkcs8', format: 'pem' }).toString() : key.export({ type: 'spki', format: 'pem' }).toString();
}
