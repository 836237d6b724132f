/**
 * Retained messages (list by filter with paging, get one, delete one or by filter) and `POST /api/v1/publish`.
 * Topics travel percent-encoded in paths (`/api/v1/retained/a%2Fb`); unencoded slashes are taken as levels too.
 */
import { isUtf8 } from 'node:buffer';
import type { BrokerMessage } from '../broker/index.js';
import type { Properties, QoS } from '../packet/index.js';
import { validateSubscriptionFilter, validateTopicName } from '../topic/index.js';
import { Body } from './body.js';
import { badRequest, notFound } from './http-error.js';
import type { AdminNode, Nodes } from './nodes.js';
import { PAGE_PARAMS, paginate } from './paging.js';
import { payloadView, propertiesView, type MessagePropertiesView, type PayloadView } from './payload.js';
import { Query } from './query.js';
import type { Route } from './routes.js';

/** Payload bytes a listed message shows by default (`payloadLimit` changes it); a single one shows all. */
const LIST_PAYLOAD = 256;
const MAX_PAYLOAD_SHOWN = 1024 * 1024;

export interface RetainedItem extends PayloadView {
  node: string;
  topic: string;
  qos: QoS;
  /** Seconds left of its Message Expiry Interval; null when it never expires. */
  expiresIn: number | null;
  properties: MessagePropertiesView;
}

function retainedItem(node: string, message: BrokerMessage, payloadLimit: number): RetainedItem {
  return {
    node,
    topic: message.topic,
    qos: message.qos,
    ...payloadView(message.payload, payloadLimit),
    expiresIn: message.expiresAt === undefined ? null : Math.max(0, Math.ceil((message.expiresAt - Date.now()) / 1000)),
    properties: propertiesView(message.properties),
  };
}

function checkedFilter(filter: string): string {
  const error = validateSubscriptionFilter(filter);
  if (error !== undefined) throw badRequest(`'${filter}' is not a valid topic filter: ${error.message}`);
  if (filter.startsWith('$share/')) throw badRequest('retained messages are listed by a plain filter, not a shared subscription');
  return filter;
}

function checkedTopic(topic: string): string {
  const error = validateTopicName(topic);
  if (error !== undefined) throw badRequest(`'${topic}' is not a valid topic name: ${error.message}`);
  return topic;
}

/** The retained messages of a node matching a filter. */
function matching(node: AdminNode, filter: string): BrokerMessage[] {
  const found: BrokerMessage[] = [];
  node.broker.forEachRetained(filter, (message) => found.push(message));
  return found;
}

function retainedAt(node: AdminNode, topic: string): BrokerMessage | undefined {
  return matching(node, topic)[0];
}

/** A publish request's MQTT 5 properties. */
function publishProperties(body: Body | undefined): Properties | undefined {
  if (body === undefined) return undefined;
  const properties: Properties = {};
  const contentType = body.string('contentType');
  if (contentType !== undefined) properties.contentType = contentType;
  const responseTopic = body.string('responseTopic');
  if (responseTopic !== undefined) properties.responseTopic = checkedTopic(responseTopic);
  const correlation = body.string('correlationData');
  if (correlation !== undefined) properties.correlationData = Buffer.from(correlation, 'base64');
  const expiry = body.integer('messageExpiryInterval', 1, 0xffffffff);
  if (expiry !== undefined) properties.messageExpiryInterval = expiry;
  const format = body.boolean('payloadFormatIndicator');
  if (format !== undefined) properties.payloadFormatIndicator = format;
  const user = body.pairs('userProperties');
  if (user !== undefined) properties.userProperties = user;
  return properties;
}

export function retainedRoutes(nodes: Nodes): Route[] {
  return [
    {
      method: 'GET',
      path: '/api/v1/retained',
      handle: (request) => {
        const query = new Query(request.query, ['filter', 'payloadLimit', ...PAGE_PARAMS]);
        const filter = checkedFilter(query.string('filter') ?? '#');
        const limit = query.integer('payloadLimit', 0, MAX_PAYLOAD_SHOWN) ?? LIST_PAYLOAD;
        const items = nodes.select(query).flatMap((node) => matching(node, filter).map((m) => retainedItem(node.name, m, limit)));
        return { json: paginate(items, (m) => m.topic, query) };
      },
    },
    {
      method: 'DELETE',
      path: '/api/v1/retained',
      handle: (request) => {
        const query = new Query(request.query, ['filter']);
        const filter = checkedFilter(query.required('filter'));
        let deleted = 0;
        for (const node of nodes.select(query)) {
          for (const message of matching(node, filter)) if (node.broker.clearRetained(message.topic)) deleted++;
        }
        return { json: { deleted } };
      },
    },
    {
      method: 'GET',
      path: '/api/v1/retained/{topic+}',
      handle: (request) => {
        const query = new Query(request.query, ['payloadLimit']);
        const node = nodes.one(query);
        const topic = checkedTopic(request.params['topic']!);
        const message = retainedAt(node, topic);
        if (message === undefined) throw notFound(`no retained message on '${topic}'`);
        return { json: retainedItem(node.name, message, query.integer('payloadLimit', 0, Number.MAX_SAFE_INTEGER) ?? Number.MAX_SAFE_INTEGER) };
      },
    },
    {
      method: 'DELETE',
      path: '/api/v1/retained/{topic+}',
      handle: (request) => {
        const node = nodes.one(new Query(request.query, []));
        const topic = checkedTopic(request.params['topic']!);
        if (!node.broker.clearRetained(topic)) throw notFound(`no retained message on '${topic}'`);
        return { status: 204 };
      },
    },
    {
      method: 'POST',
      path: '/api/v1/publish',
      handle: async (request) => {
        const node = nodes.one(new Query(request.query, []));
        const body = new Body(await request.json(), ['topic', 'payload', 'payloadEncoding', 'qos', 'retain', 'properties']);
        const topic = checkedTopic(body.requiredString('topic'));
        if (topic.startsWith('$SYS/')) throw badRequest('$SYS topics are the broker\'s own');
        const encoding = body.oneOf('payloadEncoding', ['utf8', 'base64']) ?? 'utf8';
        const text = body.string('payload') ?? '';
        if (encoding === 'base64' && !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) throw badRequest("'payload' is not base64");
        const properties = publishProperties(body.object('properties', ['contentType', 'responseTopic', 'correlationData', 'messageExpiryInterval', 'payloadFormatIndicator', 'userProperties']));
        const payload = Buffer.from(text, encoding);
        if (properties?.payloadFormatIndicator === true && !isUtf8(payload)) throw badRequest('payloadFormatIndicator says UTF-8 but the payload is not');
        const delivered = node.broker.publish({ topic, payload, qos: (body.integer('qos', 0, 2) ?? 0) as QoS, retain: body.boolean('retain') ?? false, properties });
        return { json: { node: node.name, topic, delivered } };
      },
    },
  ];
}
