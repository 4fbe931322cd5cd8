// One implementation for tests and benchmarks: bench/ is compiled, test/ is not.
export { startRedisServer as startTestRedis, type RedisServer as TestRedis } from '../../harness/redis.js';
