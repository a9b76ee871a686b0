// The wire's message checks (protocol/shape.ts) build the path of a bad value only when a check
// fails: each refusal must still name exactly the value that is wrong, at any depth, and a message
// that passes comes back unchanged.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  ShapeError,
  array,
  int,
  object,
  optional,
  record,
  str,
  tagged,
  type Shape,
} from '../../tunnel/src/protocol/shape';
import { httpResponseHead, streamOpen } from '../../tunnel/src/protocol/messages';

function pathOf(shape: Shape<unknown>, value: unknown, root: string): string | undefined {
  try {
    shape(value, root);
    return undefined;
  } catch (err) {
    assert.ok(err instanceof ShapeError, `not a ShapeError: ${String(err)}`);
    assert.equal((err as ShapeError).message.startsWith(`${(err as ShapeError).path}: `), true);
    return (err as ShapeError).path;
  }
}

const validOpen = () => ({
  kind: 'http',
  binding: 'b1',
  remoteAddr: '127.0.0.1',
  scheme: 'http',
  method: 'GET',
  url: '/x',
  httpVersion: '1.1',
  rawHeaders: ['Host', 'a.localhost', 'Accept', '*/*', 'X-Forwarded-For', '127.0.0.1'],
  logs: [{ metadata: { a: 1 } }],
});

describe('protocol shape checks: the path of a refused value', () => {
  it('names the exact field, array element and map entry, however deep', () => {
    const inner = object<{ n: number; tags: string[] }>({ n: int, tags: array(str) });
    const shape = object<{ list: { n: number; tags: string[] }[]; map: Record<string, number>; opt?: string }>({
      list: array(inner),
      map: record(int),
      opt: optional(str),
    });
    const ok = { list: [{ n: 1, tags: ['a'] }], map: { x: 1 } };
    assert.equal(shape(ok, 'm'), ok);
    assert.equal(
      pathOf(
        shape,
        {
          ...ok,
          list: [
            { n: 1, tags: ['a'] },
            { n: 1, tags: ['a', 'b', 3] },
          ],
        },
        'm',
      ),
      'm.list[1].tags[2]',
    );
    assert.equal(pathOf(shape, { ...ok, list: [{ n: 'x', tags: [] }] }, 'm'), 'm.list[0].n');
    assert.equal(pathOf(shape, { ...ok, map: { x: 1, y: 'z' } }, 'm'), 'm.map.y');
    assert.equal(pathOf(shape, { ...ok, opt: 5 }, 'm'), 'm.opt');
    assert.equal(pathOf(shape, { ...ok, extra: 1 }, 'm'), 'm.extra');
    assert.equal(pathOf(shape, { ...ok, list: [{ n: 1, tags: [], more: true }] }, 'm'), 'm.list[0].more');
    const union = tagged<{ k: 'a'; v: number[] }>('k', { a: object({ k: str as Shape<'a'>, v: array(int) }) });
    assert.equal(pathOf(union, { k: 'a', v: [1, 2, 'x'] }, 'u'), 'u.v[2]');
    assert.equal(pathOf(union, { k: 'b' }, 'u'), 'u.k');
  });

  it('one wrong leaf anywhere in an HttpOpen or a response head: refused at that leaf (random)', () => {
    // Every leaf of a valid message, with its path as the old eager checks built it.
    const leaves = (v: unknown, path: string, out: [string, (x: unknown) => unknown][], set: (x: unknown) => void) => {
      if (Array.isArray(v)) v.forEach((x, i) => leaves(x, `${path}[${i}]`, out, (y) => (v[i] = y)));
      else if (typeof v === 'object' && v !== null)
        for (const k of Object.keys(v))
          leaves(
            (v as Record<string, unknown>)[k],
            `${path}.${k}`,
            out,
            (y) => ((v as Record<string, unknown>)[k] = y),
          );
      else out.push([path, set]);
    };
    const messages: [Shape<unknown>, () => unknown][] = [
      [streamOpen, validOpen],
      [
        httpResponseHead,
        () => ({
          kind: 'http-response',
          statusCode: 200,
          statusMessage: 'OK',
          rawHeaders: ['a', 'b', 'c', 'd'],
          error: { code: 'E', message: 'm' },
        }),
      ],
    ];
    fc.assert(
      fc.property(fc.nat(), fc.nat(), fc.constantFrom<unknown>(null, 1.5, true, [], {}, 'x'), (which, leaf, bad) => {
        const [shape, make] = messages[which % messages.length];
        const value = make();
        assert.equal(pathOf(shape, value, 'open'), undefined);
        const out: [string, (x: unknown) => unknown][] = [];
        leaves(value, 'open', out, () => undefined);
        const [path, set] = out[leaf % out.length];
        set(bad);
        const got = pathOf(shape, value, 'open');
        // A replacement of the right type passes; `metadata` of policy logs takes any JSON.
        if (got === undefined) return;
        assert.ok(got === path || path.startsWith(`${got}.`) || path.startsWith(`${got}[`), `${got} for ${path}`);
        if (!path.includes('.kind')) assert.equal(got, path);
      }),
      { numRuns: 500 },
    );
  });
});
