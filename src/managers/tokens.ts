import { mapObjects } from '../reduction.js';
import { TOKEN_KEY, type Token } from './protocol.js';

/**
 * Proxies inside messages: on the way out each becomes `{ [TOKEN_KEY]:
 * token }`, on the way in each token becomes a proxy again (or, in the
 * server, a reference to one of its own objects). Only arrays, plain
 * objects, Maps and Sets are searched, as structured clone would copy them.
 */
export function replaceWithTokens(value: unknown, tokenOf: (object: object) => Token | null): { value: unknown; found: boolean } {
  let found = false;
  const replaced = mapObjects(value, (object) => {
    const token = tokenOf(object);
    if (token === null) return object;
    found = true;
    return { [TOKEN_KEY]: token };
  });
  return { value: replaced, found };
}

export function replaceTokens(value: unknown, make: (token: Token) => unknown): unknown {
  return mapObjects(value, (object) => {
    const token = (object as Record<string, unknown>)[TOKEN_KEY];
    if (token === undefined || Object.keys(object).length !== 1) return object;
    return make(token as Token);
  });
}

/**
 * A proxy stored inside the server (a list kept in a managed dict): it holds
 * one reference to the server's own object, dropped when it is collected,
 * and turns back into a proxy whenever it is sent to a client.
 */
export class ServerRef {
  constructor(readonly token: Token) {}

  toString(): string {
    return `<${this.token.typeid} proxy ${this.token.id}>`;
  }
}
