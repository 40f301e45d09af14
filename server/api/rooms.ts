// socket.io rooms: a browser hears the progress and previews of the prompts it queued or opened,
// not everyone's. The queue's status and the ends of prompts (done, failed, interrupted: what the
// history shows) go to every browser.
import type { Server as SocketServer, Socket } from "socket.io";
import type { ClientToServerEvents, ServerToClientEvents } from "../../nodes/events.ts";
import { z } from "zod";
import type { EventSink } from "../executor/transport.ts";

type Io = SocketServer<ClientToServerEvents, ServerToClientEvents>;

/** Prompts queued without a client id (CLI, curl) and sockets that send none share this room. */
export const ANONYMOUS_CLIENT = "";

export const clientRoom = (clientId: string | undefined) => `client:${clientId ?? ANONYMOUS_CLIENT}`;
export const promptRoom = (promptId: string) => `prompt:${promptId}`;

/** Events every browser hears: the queue and the history change for everyone. */
const BROADCAST = new Set(["status", "execution:done", "execution:error", "execution:interrupted"]);

/** Client → server: join (or leave) a prompt's room, to watch a prompt someone else queued. */
export const OPEN_PROMPT = "prompt:open";
export const CLOSE_PROMPT = "prompt:close";

const ClientId = z.string().min(1).max(128);
const PromptId = z.string().min(1).max(128);

/** The client id a socket sent on its handshake (query `clientId`, or auth `{clientId}`). */
export function handshakeClientId(socket: Socket<ClientToServerEvents, ServerToClientEvents>): string | undefined {
  const given = (socket.handshake.auth as { clientId?: unknown } | undefined)?.clientId ?? socket.handshake.query.clientId;
  const parsed = ClientId.safeParse(given);
  return parsed.success ? parsed.data : undefined;
}

/** Puts every socket in its client's room and answers open/close requests for prompt rooms. */
export function mountRooms(io: Io): void {
  io.on("connection", (socket) => {
    void socket.join(clientRoom(handshakeClientId(socket)));
    socket.on(OPEN_PROMPT, (promptId: unknown) => {
      const id = PromptId.safeParse(promptId);
      if (id.success) void socket.join(promptRoom(id.data));
    });
    socket.on(CLOSE_PROMPT, (promptId: unknown) => {
      const id = PromptId.safeParse(promptId);
      if (id.success) void socket.leave(promptRoom(id.data));
    });
  });
}

/**
 * An event sink that sends each prompt's events to its rooms: its submitter's client room and
 * the prompt's own room. `ownerOf` names the client that queued a prompt.
 */
export function roomSink(io: Io, ownerOf: (promptId: string) => string | undefined): EventSink {
  // Owners of prompts in flight, so a sampler's every step does not read the store.
  const owners = new Map<string, string | undefined>();
  const owner = (promptId: string) => {
    if (!owners.has(promptId)) {
      owners.set(promptId, ownerOf(promptId));
      if (owners.size > 1000) owners.delete(owners.keys().next().value!);
    }
    return owners.get(promptId);
  };
  return {
    emit(name, payload) {
      // socket.io's typed emit takes the event's own arguments; the sink's map is the same one.
      const send = (target: { emit: Io["emit"] }) => (target.emit as (n: string, p: unknown) => boolean)(name, payload);
      const promptId = (payload as { promptId?: unknown }).promptId;
      if (BROADCAST.has(name) || typeof promptId !== "string") {
        send(io);
        if (name !== "status" && typeof promptId === "string") owners.delete(promptId);
        return;
      }
      send(io.to([clientRoom(owner(promptId)), promptRoom(promptId)]));
    },
  };
}
