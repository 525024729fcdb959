/**
 * Lambda's invocation objects with their real shapes: a `Context` whose remaining time shrinks
 * with the clock, an API Gateway HTTP API (payload 2.0) request, and an EventBridge scheduled event.
 */
import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyEventV2, Context, ScheduledEvent } from 'aws-lambda';

const FUNCTION_NAME = 'gta-example-GtaFunction-4Xz1fPq8Lw2K';
const ARN = `arn:aws:lambda:eu-west-1:123456789012:function:${FUNCTION_NAME}`;

/** The context of an invocation whose function times out `timeoutMs` from now. */
export function lambdaContext(timeoutMs: number): Context {
  const deadline = Date.now() + timeoutMs;
  const callbackStyle = () => {
    throw new Error('async handlers do not complete through the context');
  };
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: FUNCTION_NAME,
    functionVersion: '$LATEST',
    invokedFunctionArn: ARN,
    memoryLimitInMB: '512',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${FUNCTION_NAME}`,
    logStreamName: `2026/11/25/[$LATEST]${randomUUID().replaceAll('-', '')}`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: callbackStyle,
    fail: callbackStyle,
    succeed: callbackStyle,
  };
}

/** An HTTP API request, as API Gateway sends it to the function. */
export function httpEvent(method: string, path: string, body?: unknown): APIGatewayProxyEventV2 {
  const now = new Date();
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: path,
    rawQueryString: '',
    headers: {
      accept: '*/*',
      'content-type': 'application/json',
      host: 'abc123defg.execute-api.eu-west-1.amazonaws.com',
      'user-agent': 'curl/8.5.0',
      'x-forwarded-for': '203.0.113.7',
      'x-forwarded-proto': 'https',
    },
    requestContext: {
      accountId: '123456789012',
      apiId: 'abc123defg',
      domainName: 'abc123defg.execute-api.eu-west-1.amazonaws.com',
      domainPrefix: 'abc123defg',
      http: { method, path, protocol: 'HTTP/1.1', sourceIp: '203.0.113.7', userAgent: 'curl/8.5.0' },
      requestId: randomUUID(),
      routeKey: '$default',
      stage: '$default',
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
    },
    ...(body === undefined
      ? { isBase64Encoded: false }
      : { body: JSON.stringify(body), isBase64Encoded: false }),
  };
}

/** What an EventBridge rule with a schedule sends. */
export function scheduledEvent(): ScheduledEvent {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'Scheduled Event',
    source: 'aws.events',
    account: '123456789012',
    time: new Date().toISOString().replace(/\.\d{3}/, ''),
    region: 'eu-west-1',
    resources: ['arn:aws:events:eu-west-1:123456789012:rule/gta-example-GtaFunctionTick-1A2B3C4D5E6F'],
    detail: {},
  };
}
