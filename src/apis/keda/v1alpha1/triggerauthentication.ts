import { Type, type Static } from '@sinclair/typebox';
import { KedaResource, StringEnum, StringMap, Struct } from './schema.js';

export const PodIdentityProviders = ['azure-workload', 'gcp', 'aws', 'aws-eks', 'none'] as const;

export const PodIdentitySchema = Struct({
  provider: StringEnum(PodIdentityProviders),
  identityId: Type.Optional(Type.String()),
  identityTenantId: Type.Optional(Type.String()),
  identityAuthorityHost: Type.Optional(Type.String()),
  roleArn: Type.Optional(Type.String()),
  externalID: Type.Optional(Type.String()),
  identityOwner: Type.Optional(StringEnum(['keda', 'workload'] as const)),
});

/** `{parameter, name, key}`: one auth parameter read from a key of a Secret or ConfigMap. */
const KeyRefSchema = Struct({ parameter: Type.String({ minLength: 1 }), name: Type.String({ minLength: 1 }), key: Type.String({ minLength: 1 }) });

const SecretValueSchema = Struct({
  valueFrom: Struct({ secretKeyRef: Struct({ name: Type.String(), key: Type.String() }) }),
});

const VaultPkiDataSchema = Struct({
  commonName: Type.Optional(Type.String()),
  altNames: Type.Optional(Type.String()),
  ipSans: Type.Optional(Type.String()),
  uriSans: Type.Optional(Type.String()),
  otherSans: Type.Optional(Type.String()),
  ttl: Type.Optional(Type.String()),
  format: Type.Optional(Type.String()),
});

const HashiCorpVaultSchema = Struct({
  address: Type.String(),
  authentication: StringEnum(['token', 'kubernetes'] as const),
  role: Type.Optional(Type.String()),
  mount: Type.Optional(Type.String()),
  namespace: Type.Optional(Type.String()),
  credential: Type.Optional(
    Struct({
      token: Type.Optional(Type.String()),
      serviceAccount: Type.Optional(Type.String()),
      serviceAccountName: Type.Optional(Type.String()),
    }),
  ),
  secrets: Type.Array(
    Struct({
      parameter: Type.String(),
      path: Type.String(),
      key: Type.String(),
      type: Type.Optional(StringEnum(['', 'secretV2', 'secret', 'pki'] as const)),
      pkiData: Type.Optional(VaultPkiDataSchema),
    }),
    { minItems: 1 },
  ),
});

const AzureKeyVaultSchema = Struct({
  vaultUri: Type.String(),
  credentials: Type.Optional(Struct({ clientId: Type.String(), clientSecret: SecretValueSchema, tenantId: Type.String() })),
  cloud: Type.Optional(
    Struct({
      type: Type.String(),
      keyVaultResourceURL: Type.Optional(Type.String()),
      activeDirectoryEndpoint: Type.Optional(Type.String()),
    }),
  ),
  podIdentity: Type.Optional(PodIdentitySchema),
  secrets: Type.Array(Struct({ parameter: Type.String(), name: Type.String(), version: Type.Optional(Type.String()) })),
});

const GcpSecretManagerSchema = Struct({
  credentials: Type.Optional(Struct({ clientSecret: SecretValueSchema })),
  podIdentity: Type.Optional(PodIdentitySchema),
  secrets: Type.Array(Struct({ parameter: Type.String(), id: Type.String(), version: Type.Optional(Type.String()) })),
});

const AwsSecretManagerSchema = Struct({
  credentials: Type.Optional(Struct({ accessKey: SecretValueSchema, accessSecretKey: SecretValueSchema, accessToken: Type.Optional(SecretValueSchema) })),
  podIdentity: Type.Optional(PodIdentitySchema),
  region: Type.Optional(Type.String()),
  secrets: Type.Array(
    Struct({
      parameter: Type.String(),
      name: Type.String(),
      versionId: Type.Optional(Type.String()),
      versionStage: Type.Optional(Type.String()),
      secretKey: Type.Optional(Type.String()),
    }),
  ),
});

const OAuth2Schema = Struct({
  type: Type.String({ description: 'Only clientCredentials is supported' }),
  clientId: Type.String(),
  clientSecret: Type.Optional(SecretValueSchema),
  tokenUrl: Type.String(),
  scopes: Type.Optional(Type.Array(Type.String())),
  tokenUrlParams: Type.Optional(StringMap()),
});

export const TriggerAuthenticationSpecSchema = Struct(
  {
    podIdentity: Type.Optional(PodIdentitySchema),
    secretTargetRef: Type.Optional(Type.Array(KeyRefSchema)),
    configMapTargetRef: Type.Optional(Type.Array(KeyRefSchema)),
    env: Type.Optional(
      Type.Array(Struct({ parameter: Type.String({ minLength: 1 }), name: Type.String({ minLength: 1 }), containerName: Type.Optional(Type.String()) })),
    ),
    filePath: Type.Optional(Type.String({ description: 'Path of a JSON map file; ClusterTriggerAuthentication only' })),
    hashiCorpVault: Type.Optional(HashiCorpVaultSchema),
    azureKeyVault: Type.Optional(AzureKeyVaultSchema),
    gcpSecretManager: Type.Optional(GcpSecretManagerSchema),
    awsSecretManager: Type.Optional(AwsSecretManagerSchema),
    boundServiceAccountToken: Type.Optional(Type.Array(Struct({ parameter: Type.String(), serviceAccountName: Type.String() }))),
    oauth2: Type.Optional(OAuth2Schema),
  },
  { description: 'TriggerAuthenticationSpec defines the various ways to authenticate' },
);

export const TriggerAuthenticationStatusSchema = Struct(
  {
    scaledobjects: Type.Optional(Type.String({ description: 'Comma-joined names of the ScaledObjects using it' })),
    scaledjobs: Type.Optional(Type.String({ description: 'Comma-joined names of the ScaledJobs using it' })),
  },
  { description: 'TriggerAuthenticationStatus defines the observed state of TriggerAuthentication' },
);

export const TriggerAuthenticationSchema = KedaResource(
  'TriggerAuthentication',
  TriggerAuthenticationSpecSchema,
  TriggerAuthenticationStatusSchema,
  'TriggerAuthentication defines how a trigger can authenticate',
);

export const ClusterTriggerAuthenticationSchema = KedaResource(
  'ClusterTriggerAuthentication',
  TriggerAuthenticationSpecSchema,
  TriggerAuthenticationStatusSchema,
  'ClusterTriggerAuthentication defines how a trigger can authenticate globally',
);

export type PodIdentity = Static<typeof PodIdentitySchema>;
export type TriggerAuthenticationSpec = Static<typeof TriggerAuthenticationSpecSchema>;
export type TriggerAuthenticationStatus = Static<typeof TriggerAuthenticationStatusSchema>;
export type TriggerAuthentication = Static<typeof TriggerAuthenticationSchema>;
export type ClusterTriggerAuthentication = Static<typeof ClusterTriggerAuthenticationSchema>;
