import { artemisComponent } from './artemis.js';
import { awsComponent } from './aws.js';
import { azuriteComponent } from './azurite.js';
import { componentNames, type ComponentName, type SandboxComponent } from './component.js';
import { kafkaComponent } from './kafka.js';
import { kubeComponent, type KubeOptions } from './kube.js';
import { natsComponent } from './nats.js';
import { nodeComponent } from './node.js';
import { mysqlComponent } from './mysql.js';
import { postgresqlComponent } from './postgresql.js';
import { prometheusComponent } from './prometheus.js';
import { prometheusAdapterComponent } from './prometheus-adapter.js';
import { rabbitMqComponent } from './rabbitmq.js';
import { redisComponent } from './redis.js';
import { sqsComponent } from './sqs.js';
import { virtualNodeComponent } from './virtual-node.js';

export function sandboxComponents(kube: KubeOptions = {}): Record<ComponentName, SandboxComponent> {
  return {
    kube: kubeComponent(kube),
    node: nodeComponent(),
    'virtual-node': virtualNodeComponent(),
    redis: redisComponent(),
    kafka: kafkaComponent(),
    sqs: sqsComponent(),
    prometheus: prometheusComponent(),
    'prometheus-adapter': prometheusAdapterComponent(),
    aws: awsComponent(),
    postgresql: postgresqlComponent(),
    mysql: mysqlComponent(),
    rabbitmq: rabbitMqComponent(),
    nats: natsComponent(),
    azurite: azuriteComponent(),
    artemis: artemisComponent(),
  };
}

/** Parses "kube,redis" into component names, rejecting unknown ones with the list of valid names. */
export function parseComponentList(list: string): ComponentName[] {
  const names = list
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = names.filter((n) => !(componentNames as readonly string[]).includes(n));
  if (unknown.length > 0) throw new Error(`unknown component(s) ${unknown.join(', ')}; choose from ${componentNames.join(', ')}`);
  return names as ComponentName[];
}

/** What `swell dev up` starts without --components: everything, but the real node only as root (it needs root). */
export function defaultComponents(root: boolean): ComponentName[] {
  return componentNames.filter((name) => root || name !== 'node');
}
