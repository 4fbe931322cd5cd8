import uWS from 'uWebSockets.js';

export interface Listener {
  readonly port: number;
  close(): void;
}

// The native listen also takes (host, port, options, cb); the typings only list (port, options, cb).
declare module 'uWebSockets.js' {
  interface TemplatedApp {
    listen(host: RecognizedString, port: number, options: ListenOptions, cb: (listenSocket: us_listen_socket | false) => void | Promise<void>): TemplatedApp;
  }
}

/**
 * Without it uSockets sets SO_REUSEPORT, and a second relay on the same address starts fine
 * while the kernel splits clients between two relays with different databases and keys.
 */
const EXCLUSIVE_PORT: uWS.ListenOptions = 1;

/** The address is in use or not available; `variable` names the setting that chose it. */
export class ListenError extends Error {
  override readonly name = 'ListenError';
}

/** Listens on host:port alone; rejects with a ListenError naming `variable` when it cannot. */
export function listen(app: uWS.TemplatedApp, host: string, port: number, variable = 'BIND_ADDRESS'): Promise<Listener> {
  return new Promise((resolve, reject) => {
    app.listen(host, port, EXCLUSIVE_PORT, (socket) => {
      if (!socket) {
        const address = `${host.includes(':') ? `[${host}]` : host}:${port}`;
        reject(new ListenError(`cannot listen on ${address} (${variable}): the address is in use by another process or not available on this machine`));
        return;
      }
      let open = true;
      resolve({
        port: uWS.us_socket_local_port(socket as unknown as uWS.us_socket),
        close: () => {
          if (open) uWS.us_listen_socket_close(socket);
          open = false;
        },
      });
    });
  });
}

/** The JS fallback of the uWS republish lacks getParts; its absence means the native binary did not load. */
export function assertNativeUws(): void {
  const exported = uWS as unknown as Record<string, unknown>;
  if (typeof exported.getParts !== 'function' || process.env.UWS_USE_FALLBACK) {
    throw new Error('uWebSockets.js native binary is not in use (the slow JavaScript fallback loaded); check the platform and Node version');
  }
}
