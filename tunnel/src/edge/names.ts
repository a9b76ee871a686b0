// Random endpoint names like ngrok's and localtunnel's: "swift-otter", readable and easy to say.
import { randomInt } from 'node:crypto';

const ADJECTIVES = [
  'amber', 'brave', 'bright', 'calm', 'clever', 'cosy', 'crisp', 'dapper', 'eager', 'fancy', 'gentle', 'glad',
  'happy', 'jolly', 'keen', 'kind', 'lively', 'lucky', 'merry', 'mighty', 'nimble', 'noble', 'proud', 'quick',
  'quiet', 'rapid', 'shiny', 'silent', 'sleek', 'smart', 'snug', 'steady', 'sunny', 'swift', 'tidy', 'vivid',
  'warm', 'wise', 'witty', 'zesty',
];
const ANIMALS = [
  'badger', 'beaver', 'bison', 'crane', 'dingo', 'eagle', 'falcon', 'ferret', 'finch', 'fox', 'gecko', 'hare',
  'heron', 'ibis', 'jackal', 'koala', 'lemur', 'lynx', 'marten', 'mole', 'moose', 'newt', 'ocelot', 'otter',
  'owl', 'panda', 'puffin', 'quail', 'raven', 'robin', 'seal', 'shrew', 'stoat', 'swan', 'tapir', 'tern',
  'vole', 'walrus', 'wombat', 'yak',
];

/** A fresh name; after a few collisions a 4-digit suffix keeps the space large. */
export function randomName(attempt = 0): string {
  const base = `${ADJECTIVES[randomInt(ADJECTIVES.length)]}-${ANIMALS[randomInt(ANIMALS.length)]}`;
  return attempt < 5 ? base : `${base}-${randomInt(1000, 10000)}`;
}
