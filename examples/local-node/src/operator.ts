/**
 * The operator's part of the `--once` story, played through the admin API at /admin as a script
 * would: a request without the token is refused, then the failed shipment bookings are rerun.
 * @module
 */
import type { TaskRow } from '@gta/core';
import { say, taskList } from './format.js';

export interface OperatorResult {
  /** The status `GET /admin/api/tasks` answered without the token. */
  withoutTokenStatus: number;
  /** The failed `book-shipment` tasks found, and how many of them the rerun moved back to `initialized`. */
  found: number[];
  rerun: number;
}

export async function rerunFailedShipments(baseUrl: string, token: string): Promise<OperatorResult> {
  const listUrl = `${baseUrl}/admin/api/tasks?status=failed&key=book-shipment`;
  const withoutToken = await fetch(listUrl);
  await withoutToken.body?.cancel();
  say(`operator: GET /admin/api/tasks without the admin token answers ${withoutToken.status}`);

  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  const listed = await fetch(listUrl, { headers });
  if (!listed.ok) throw new Error(`GET ${listUrl} answered ${listed.status}: ${await listed.text()}`);
  const found = ((await listed.json()) as { tasks: TaskRow[] }).tasks.map((task) => task.id);
  say(`operator: the failed book-shipment ${taskList(found)}; rerunning them (GTA's ForceRerunTasks)`);
  const rerunResponse = await fetch(`${baseUrl}/admin/api/tasks/rerun`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ ids: found, status: 'failed' }),
  });
  if (!rerunResponse.ok)
    throw new Error(`rerun answered ${rerunResponse.status}: ${await rerunResponse.text()}`);
  const { rerun } = (await rerunResponse.json()) as { rerun: number };
  say(`operator: ${rerun} moved back to initialized; the runner picks them up`);
  return { withoutTokenStatus: withoutToken.status, found, rerun };
}
