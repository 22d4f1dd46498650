import { createCertificateAuthority, issueServerCertificate, type CertifiedKey } from '../pki/index.js';

/**
 * A serving certificate for the kubelet API: its own small CA (so the CA can be handed to a client that wants
 * to verify) and a leaf for the node's IP and name. kube-apiserver only verifies it when started with
 * --kubelet-certificate-authority.
 */
export async function kubeletServingCertificate(nodeName: string, nodeIP: string): Promise<{ ca: CertifiedKey; serving: CertifiedKey }> {
  const ca = await createCertificateAuthority({ commonName: `${nodeName}-kubelet-ca` });
  const serving = await issueServerCertificate(ca, { commonName: nodeName, dnsNames: [nodeName, 'localhost'], ipAddresses: [nodeIP] });
  return { ca, serving };
}
