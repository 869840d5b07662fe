// The optional extra selector of seed 000 ("protocol number, port" for two devices with
// more than one protected flow), as written in the agent and controller configs:
//   flow: { protocol: tcp, port: 5201 }                  controller policy
//   flow: { protocol: tcp, port: 5201, server: remote }  agent protect entry
// On the wire (src/wire/control-settings.ts FlowSelector) `port` is the service port and
// a packet matches when either of its ports equals it; an SPD entry (RFC 4301 §4.4.1.1)
// has one port range per side, so the agent also says on which side the service listens.

import { z } from 'zod';
import type { FlowSelector } from '../wire/control-settings.js';
import type { IssueList } from './errors.js';
import { parseProtocol, protocolHasPorts } from './values.js';

const protocol = z
  .union([z.number(), z.string()], { error: 'expected a protocol name (tcp, udp, sctp, icmp, ...) or a number 0-255' })
  .transform((v, ctx) => {
    const r = parseProtocol(v);
    if (typeof r === 'string') {
      ctx.addIssue({ code: 'custom', message: r });
      return z.NEVER;
    }
    return r; // undefined = "any": refused by checkFlow with a message that says why
  });

const port = z.number({ error: 'expected a port number 1-65535' }).int({ error: 'expected a port number 1-65535' }).min(1).max(65535);

export const controllerFlowSchema = z.strictObject({ protocol, port: port.optional() });

export const agentFlowSchema = z.strictObject({
  protocol,
  port: port.optional(),
  server: z.enum(['remote', 'local'], { error: 'expected "remote" (the service listens behind the peer) or "local" (it listens here)' }).optional(),
});

export type RawControllerFlow = z.output<typeof controllerFlowSchema>;
export type RawAgentFlow = z.output<typeof agentFlowSchema>;

// The wire flow, or undefined after reporting why not. `at` is the flow field's path;
// `withServer`: an agent flow, whose `server` side is required with a port.
export function checkFlow(raw: RawControllerFlow | RawAgentFlow, at: string, issues: IssueList, withServer: boolean): FlowSelector | undefined {
  const before = issues.length;
  if (raw.protocol === undefined) {
    issues.add(`${at}.protocol`, 'a flow names one protocol; leave flow out to cover every protocol');
  } else if (raw.port !== undefined && !protocolHasPorts(raw.protocol)) {
    issues.add(`${at}.port`, `ports need protocol tcp, udp, sctp or udplite (protocol is ${raw.protocol})`);
  }
  if (withServer) {
    const server = 'server' in raw ? raw.server : undefined;
    if (raw.port !== undefined && server === undefined) {
      issues.add(`${at}.server`, `required with port: "remote" when the service on port ${raw.port} listens behind the peer, "local" when it listens here`);
    } else if (raw.port === undefined && server !== undefined) {
      issues.add(`${at}.server`, 'only with port: without one the flow covers every port of the protocol');
    }
  }
  if (issues.length > before || raw.protocol === undefined) return undefined;
  return { protocol: raw.protocol, port: raw.port ?? null };
}
