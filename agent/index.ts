/**
 * agent/ — the node runtime: the etcd store wrapper, elections, the supervisor, fencing and
 * health. This file is the folder's front door; other folders import only from here.
 */
export { isRackseedError, RackseedError } from './errors/index.js';
