import uWS from 'uWebSockets.js';

export interface Listener {
  readonly port: number;
  close(): void;
}

export function listen(app: uWS.TemplatedApp, host: string, port: number): Promise<Listener> {
  return new Promise((resolve, reject) => {
    app.listen(host, port, (socket) => {
      if (!socket) {
        reject(new Error(`cannot listen on ${host.includes(':') ? `[${host}]` : host}:${port} (address in use or not available)`));
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
