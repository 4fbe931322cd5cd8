import type { TestProject } from 'vitest/node';
import { startTestPostgres } from './support/postgres.js';
import { startTestRedis } from './support/redis.js';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
    redisUrl: string;
  }
}

/** One real PostgreSQL and one real Redis for the whole run, on free loopback ports. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const [pgResult, redisResult] = await Promise.allSettled([startTestPostgres(), startTestRedis()]);
  if (pgResult.status === 'rejected' || redisResult.status === 'rejected') {
    if (pgResult.status === 'fulfilled') await pgResult.value.destroy();
    if (redisResult.status === 'fulfilled') await redisResult.value.stop();
    throw pgResult.status === 'rejected' ? pgResult.reason : (redisResult as PromiseRejectedResult).reason;
  }
  const postgres = pgResult.value;
  const redis = redisResult.value;
  project.provide('databaseUrl', postgres.url);
  project.provide('redisUrl', redis.url);
  return async () => {
    await Promise.all([postgres.destroy(), redis.stop()]);
  };
}
