import { describe, expect, it } from 'vitest';
import { artemisURL, parseArtemisQueue, parseJolokiaReply, templateParameters } from './artemis-queue.js';
import type { ParseInput } from './definition.js';
import { createScaler, validateTriggerMetadata } from './registry.js';
import { contextFor, testDeps } from './testing.js';

const base = { managementEndpoint: 'artemis.mq:8161', queueName: 'orders', brokerName: 'broker-0', brokerAddress: 'orders' };
const auth = { username: 'admin', password: 'secret' };

function input(metadata: Record<string, string>, extra: Partial<ParseInput> = {}): ParseInput {
  return { trigger: { type: 'artemis-queue', metadata }, triggerIndex: 0, authParams: auth, resolvedEnv: {}, offline: false, ...extra };
}

describe('artemis-queue metadata', () => {
  it('applies KEDA defaults, including its activation default of 10', () => {
    const { config, errors } = parseArtemisQueue(input(base));
    expect(errors).toEqual([]);
    expect(config).toMatchObject({ queueLength: 10, activationQueueLength: 10, unsafeSsl: false, corsHeader: 'http://artemis.mq:8161' });
  });

  it('reads the Jolokia MessageCount of the anycast queue by default', () => {
    expect(artemisURL(parseArtemisQueue(input(base)).config).href).toBe(
      'http://artemis.mq:8161/console/jolokia/read/org.apache.activemq.artemis:broker=%22broker-0%22,component=addresses,address=%22orders%22,subcomponent=queues,routing-type=%22anycast%22,queue=%22orders%22/MessageCount',
    );
  });

  it('takes endpoint, broker, address and queue from a custom restApiTemplate', () => {
    const template =
      'https://mq.example:8443/console/jolokia/read/org.apache.activemq.artemis:broker="b1",component=addresses,address="a1",subcomponent=queues,routing-type="multicast",queue="q1"/MessageCount';
    expect(templateParameters(template)).toEqual({ managementEndpoint: 'mq.example:8443', brokerName: 'b1', brokerAddress: 'a1', queueName: 'q1' });
    const { config, errors } = parseArtemisQueue(input({ restApiTemplate: template }));
    expect(errors).toEqual([]);
    expect(artemisURL(config).searchParams.size).toBe(0);
    expect(artemisURL(config).pathname).toContain('routing-type=%22multicast%22');
  });

  it('takes username and password from the trigger, a TriggerAuthentication or the target env', () => {
    const env = parseArtemisQueue(input({ ...base, usernameFromEnv: 'U', passwordFromEnv: 'P' }, { authParams: {}, resolvedEnv: { U: 'u', P: 'p' } }));
    expect(env.config).toMatchObject({ username: 'u', password: 'p' });
  });

  it.each([
    [{ ...base, managementEndpoint: '' }, 'no management endpoint given'],
    [{ ...base, queueName: '' }, 'no queue name given'],
    [{ ...base, brokerName: '' }, 'no broker name given'],
    [{ ...base, brokerAddress: '' }, 'no broker address given'],
    [
      { restApiTemplate: 'http://h/console/jolokia/read/org.apache.activemq.artemis:broker="b",queue="q"/MessageCount' },
      "can't parse restApiTemplate : no brokerAddress given",
    ],
    [{ ...base, queueLength: '1e3' }, 'unable to set param "queueLength" value "1e3": not an integer'],
  ])('rejects %j', (metadata, problem) => {
    expect(parseArtemisQueue(input(metadata)).errors).toEqual([`error parsing artemis metadata: ${problem}`]);
  });

  it('requires the account', () => {
    expect(parseArtemisQueue(input(base, { authParams: {} })).errors).toEqual([
      'error parsing artemis metadata: missing required parameter "username" in [authParams triggerMetadata resolvedEnv]',
      'error parsing artemis metadata: missing required parameter "password" in [authParams triggerMetadata resolvedEnv]',
    ]);
    expect(validateTriggerMetadata({ type: 'artemis-queue', metadata: base, authenticationRef: { name: 'artemis' } }, { offline: true })).toEqual([]);
  });

  it('accepts only a Jolokia reply whose own status is 200', () => {
    expect(parseJolokiaReply(200, '{"value":12,"status":200}')).toBe(12);
    expect(() => parseJolokiaReply(200, '{"error":"javax.management.InstanceNotFoundException","status":404}')).toThrow(
      'artemis management endpoint response error code : 200 404',
    );
    expect(() => parseJolokiaReply(401, '<html>')).toThrow('artemis management endpoint response error code : 401');
  });

  it('names the metric artemis-<queue>', () => {
    const scaler = createScaler(contextFor({ type: 'artemis-queue', metadata: { ...base, queueLength: '20' } }, { authParams: auth }), testDeps());
    expect(scaler.metricSpecs).toEqual([{ kind: 'External', metricName: 's0-artemis-orders', targetType: 'AverageValue', target: 20 }]);
    void scaler.close();
  });
});
