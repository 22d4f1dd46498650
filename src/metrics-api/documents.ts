import { metricsGroup, metricsGroupVersion, metricsVersion } from './routes.js';

// The fixed JSON documents the aggregator and clients read for discovery and OpenAPI.

const groupVersion = { groupVersion: metricsGroupVersion, version: metricsVersion };
const group = { name: metricsGroup, versions: [groupVersion], preferredVersion: groupVersion };

export const apiGroupList = { kind: 'APIGroupList', apiVersion: 'v1', groups: [group] };

export const apiGroup = { kind: 'APIGroup', apiVersion: 'v1', ...group };

export const apiResourceList = {
  kind: 'APIResourceList',
  apiVersion: 'v1',
  groupVersion: metricsGroupVersion,
  resources: [{ name: 'externalmetrics', singularName: '', namespaced: true, kind: 'ExternalMetricValueList', verbs: ['get'] }],
};

const metricPath = `/apis/${metricsGroupVersion}/namespaces/{namespace}/{metric}`;
const info = { title: 'swell external metrics', version: metricsVersion };

const valueSchema = {
  type: 'object',
  required: ['metricName', 'timestamp', 'value'],
  properties: {
    metricName: { type: 'string' },
    metricLabels: { type: 'object', additionalProperties: { type: 'string' } },
    timestamp: { type: 'string', format: 'date-time' },
    value: { type: 'string', description: 'Kubernetes quantity' },
  },
};

export const openApiV2 = {
  swagger: '2.0',
  info,
  paths: {
    [metricPath]: {
      get: {
        operationId: 'readExternalMetricValueList',
        produces: ['application/json'],
        parameters: [
          { name: 'namespace', in: 'path', required: true, type: 'string' },
          { name: 'metric', in: 'path', required: true, type: 'string' },
          { name: 'labelSelector', in: 'query', type: 'string' },
        ],
        responses: { '200': { description: 'OK', schema: { $ref: '#/definitions/ExternalMetricValueList' } } },
      },
    },
  },
  definitions: {
    ExternalMetricValue: valueSchema,
    ExternalMetricValueList: { type: 'object', properties: { items: { type: 'array', items: { $ref: '#/definitions/ExternalMetricValue' } } } },
  },
};

export const openApiV3Index = { paths: { [`apis/${metricsGroupVersion}`]: { serverRelativeURL: `/openapi/v3/apis/${metricsGroupVersion}` } } };

export const openApiV3GroupVersion = {
  openapi: '3.0.0',
  info,
  paths: {
    [metricPath]: {
      get: {
        operationId: 'readExternalMetricValueList',
        parameters: [
          { name: 'namespace', in: 'path', required: true, schema: { type: 'string' } },
          { name: 'metric', in: 'path', required: true, schema: { type: 'string' } },
          { name: 'labelSelector', in: 'query', schema: { type: 'string' } },
        ],
        responses: { '200': { description: 'OK', content: { 'application/json': { schema: { $ref: '#/components/schemas/ExternalMetricValueList' } } } } },
      },
    },
  },
  components: {
    schemas: {
      ExternalMetricValue: valueSchema,
      ExternalMetricValueList: { type: 'object', properties: { items: { type: 'array', items: { $ref: '#/components/schemas/ExternalMetricValue' } } } },
    },
  },
};
