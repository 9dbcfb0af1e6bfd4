/** A peer's URL that may arrive after start (the supervisor tells it) and may change. */
export interface PeerUrl {
  get(): string | undefined;
  set(url: string): void;
  onChange(listener: (url: string) => void): void;
}

export function createPeerUrl(initial?: string): PeerUrl {
  let url = initial;
  const listeners: ((url: string) => void)[] = [];
  return {
    get: () => url,
    set(next) {
      if (next === url) return;
      url = next;
      for (const l of listeners) l(next);
    },
    onChange(listener) {
      listeners.push(listener);
      if (url !== undefined) listener(url);
    },
  };
}
