// The per-SPD-entry queue of outbound packets held while the setting server is asked
// (seed 000 S35: "the processing of the packet is suspended"; S36 resumes it, S37 drops it).
//
// Bounded. Overflow drops the NEWEST packet (tail drop), as Linux's XFRM policy hold queue
// does (net/xfrm/xfrm_policy.c, XFRM_MAX_QUEUE_LEN): the first packets of a flow (a TCP SYN,
// a DNS query) are the ones that open it, and whatever the sender retransmits later will
// find the SA installed; dropping the oldest would throw away exactly those openers.
export class HoldQueue {
  private packets: Uint8Array[] = [];
  private droppedInCycle = 0; // overflow drops since the queue was last emptied

  constructor(private readonly capacity: number) {}

  get length(): number {
    return this.packets.length;
  }

  // Holds `packet`; false when the queue is full and the packet was dropped.
  push(packet: Uint8Array): boolean {
    if (this.packets.length >= this.capacity) {
      this.droppedInCycle++;
      return false;
    }
    this.packets.push(packet);
    return true;
  }

  // Overflow drops since the queue was last taken or cleared (for the event's `dropped`).
  get overflowDrops(): number {
    return this.droppedInCycle;
  }

  // Empties the queue and returns the packets in arrival order (S36 -> S33 resume, or S37).
  take(): Uint8Array[] {
    const out = this.packets;
    this.packets = [];
    this.droppedInCycle = 0;
    return out;
  }
}
