// The keda.sh/v1alpha1 API as swell serves it: schemas, types, CRDs and validation.
export * from './annotations.js';
export * from './crd.js';
export * from './scaledjob.js';
export * from './scaledobject.js';
export * from './schema.js';
export * from './schema-validation.js';
export * from './triggerauthentication.js';
export * from './triggers.js';
export * from './validation.js';
export * from './validator.js';
