import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiMetrics } from '../../appliance/api/index.js';
import { ADMIN_PASSWORD, startTestApi, tokenFor } from './api-helpers.js';

type TestApi = Awaited<ReturnType<typeof startTestApi>>;

/** The value of the series named exactly `series` (name and labels) in the registry's text, or undefined. */
async function sample(metrics: ApiMetrics, series: string): Promise<number | undefined> {
  const line = (await metrics.registry.metrics()).split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

// The request metrics' labels (issue 16), on the app alone through `inject`: the service is the
// route's prefix, never the URL; the scrape itself and its refusal are not counted. The TLS
// listener that lets a certificate through is test/integration/api-metrics.test.ts's.
describe('the API request metrics', () => {
  let metrics: ApiMetrics;
  let test: TestApi;
  beforeAll(async () => {
    metrics = new ApiMetrics();
    test = await startTestApi({ metrics });
  });
  afterAll(async () => test?.stop());

  it('labels each answer with its route’s service, method and status; unmatched routes are `other`', async () => {
    const token = await tokenFor(test.api, 'admin', ADMIN_PASSWORD, 'admin');
    const get = (url: string) => test.api.app.inject({ method: 'GET', url, headers: { 'x-auth-token': token } });
    expect((await get('/compute/v2.1/flavors')).statusCode).toBe(200);
    expect((await get('/compute/v2.1/servers/6b1f0c4e-3f0a-4c55-9d0c-3a4f5b6c7d8e')).statusCode).toBe(404);
    expect((await get('/compute/v2.1/no-such-resource')).statusCode).toBe(404);
    expect((await get('/no-such-service/abc')).statusCode).toBe(404);
    expect((await get('/')).statusCode).toBe(200);

    const text = await metrics.registry.metrics();
    expect(await sample(metrics, 'rackseed_api_requests_total{service="identity",method="POST",status="201"}')).toBe(1);
    expect(await sample(metrics, 'rackseed_api_requests_total{service="compute",method="GET",status="200"}')).toBe(1);
    // A route that matched answers 404 for a missing server: still compute's.
    expect(await sample(metrics, 'rackseed_api_requests_total{service="compute",method="GET",status="404"}')).toBe(1);
    expect(await sample(metrics, 'rackseed_api_requests_total{service="other",method="GET",status="404"}')).toBe(2);
    expect(await sample(metrics, 'rackseed_api_requests_total{service="other",method="GET",status="200"}')).toBe(1);
    expect(await sample(metrics, 'rackseed_api_request_duration_seconds_count{service="compute"}')).toBe(2);
    expect(text).toContain('rackseed_api_request_duration_seconds_bucket{le="0.001",service="identity"}');
    expect(text).toContain('rackseed_api_request_duration_seconds_bucket{le="10",service="identity"}');
    // No id, no URL in any label.
    expect(text).not.toMatch(/6b1f0c4e|no-such|flavors/);
  });

  it('answers /metrics without a verified client certificate with 401 and no metric, and counts no scrape', async () => {
    const before = await metrics.registry.metrics();
    const response = await test.api.app.inject({ method: 'GET', url: '/metrics' });
    expect(response.statusCode).toBe(401);
    expect(response.json()).toEqual({ error: { code: 401, title: 'Unauthorized', message: expect.any(String) } });
    expect(response.body).not.toContain('rackseed_');
    expect(test.api.errors.get('API_ERR_CLIENT_CERTIFICATE_REQUIRED')).toBe(1);
    const after = await metrics.registry.metrics();
    const requests = (text: string) => text.split('\n').filter((l) => l.startsWith('rackseed_api_requests_total'));
    expect(requests(after)).toEqual(requests(before));
  });

  it('serves no /metrics when the API is built without metrics (one machine)', async () => {
    const plain = await startTestApi();
    try {
      const response = await plain.api.app.inject({ method: 'GET', url: '/metrics' });
      expect(response.statusCode).toBe(404);
      expect(response.body).not.toContain('rackseed_');
    } finally {
      await plain.stop();
    }
  });

  it('counts DB master calls by operation and outcome, with their latency', async () => {
    metrics.dbCall('servers.list', 'ok', 0.003);
    metrics.dbCall('servers.list', 'ok', 0.004);
    metrics.dbCall('projects.get', 'DB_ERR_NOT_FOUND', 0.002);
    expect(await sample(metrics, 'rackseed_db_calls_total{operation="servers.list",outcome="ok"}')).toBe(2);
    expect(await sample(metrics, 'rackseed_db_calls_total{operation="projects.get",outcome="DB_ERR_NOT_FOUND"}')).toBe(
      1,
    );
    expect(await sample(metrics, 'rackseed_db_call_duration_seconds_bucket{le="0.005",operation="servers.list"}')).toBe(
      2,
    );
    expect(
      await sample(metrics, 'rackseed_db_call_duration_seconds_bucket{le="0.0025",operation="servers.list"}'),
    ).toBe(0);
  });
});
