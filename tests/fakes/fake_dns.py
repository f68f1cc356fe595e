"""A fake authoritative DNS server on 127.0.0.1, over UDP and TCP, built with dnspython's messages.

dnspython's real resolver talks to it (`SYNDICATE_DNS_SERVER=127.0.0.1:PORT`), so the whole lookup
path runs: wire format, CNAME chains, NXDOMAIN versus an empty answer, truncation to TCP.

    with FakeDns() as dns_server:
        dns_server.add("example.org", "TXT", '"v=spf1 include:sendgrid.net ~all"')
        dns_server.add("s1._domainkey.example.org", "CNAME", "s1.domainkey.u1.wl.sendgrid.net.")
        dns_server.add("s1.domainkey.u1.wl.sendgrid.net", "TXT", '"v=DKIM1; k=rsa; p=MIGf..."')
        env = {"SYNDICATE_DNS_SERVER": dns_server.address}

Names in `servfail` answer SERVFAIL; names in `silent` get no answer at all (a timeout).
A name that holds any record answers NOERROR with an empty answer for other types; any other name
answers NXDOMAIN. Every question is recorded in `questions` as (name, type, "udp" or "tcp").
"""

from __future__ import annotations

import socket
import socketserver
import struct
import threading
from collections import defaultdict

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset


def _name(text: str) -> dns.name.Name:
    return dns.name.from_text(text.rstrip(".") + ".")


class FakeDns:
    """The zone data and the two servers (UDP and TCP on the same port)."""

    def __init__(self, *, ttl: int = 60) -> None:
        self.ttl = ttl
        self.records: dict[dns.name.Name, list[dns.rdata.Rdata]] = defaultdict(list)
        self.servfail: set[str] = set()
        self.silent: set[str] = set()
        self.questions: list[tuple[str, str, str]] = []
        self.lock = threading.Lock()
        self._udp: socketserver.ThreadingUDPServer | None = None
        self._tcp: socketserver.ThreadingTCPServer | None = None

    def add(self, name: str, rdtype: str, text: str) -> None:
        """A record, written as in a zone file: TXT '"v=spf1 -all"', CNAME "target.example.".
        A TXT value longer than 255 bytes may be given as several quoted strings."""
        rdata = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.from_text(rdtype), text)
        with self.lock:
            self.records[_name(name)].append(rdata)

    def txt(self, name: str, value: str) -> None:
        """A TXT record holding `value`, split into 255-byte strings as DNS hosts do."""
        raw = value.encode("utf-8")
        chunks = [raw[i:i + 255] for i in range(0, len(raw), 255)] or [b""]
        quoted = " ".join('"' + c.decode("utf-8", "surrogateescape").replace("\\", "\\\\").replace('"', '\\"') + '"'
                          for c in chunks)
        self.add(name, "TXT", quoted)

    def clear(self, name: str | None = None) -> None:
        with self.lock:
            if name is None:
                self.records.clear()
            else:
                self.records.pop(_name(name), None)

    @property
    def address(self) -> str:
        assert self._udp is not None, "start the server first"
        return f"127.0.0.1:{self._udp.server_address[1]}"

    # --- answering ------------------------------------------------------------------------------------

    def answer(self, wire: bytes, transport: str) -> bytes | None:
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return None
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        if not query.question:
            response.set_rcode(dns.rcode.FORMERR)
            return response.to_wire()
        question = query.question[0]
        text = question.name.to_text(omit_final_dot=True).lower()
        with self.lock:
            self.questions.append((text, dns.rdatatype.to_text(question.rdtype), transport))
            if text in self.silent:
                return None
            if text in self.servfail:
                response.set_rcode(dns.rcode.SERVFAIL)
                return response.to_wire()
            name, seen = question.name, 0
            while seen < 8:  # follow CNAMEs inside our data, as an authoritative server with both zones would
                held = self.records.get(name, [])
                cnames = [r for r in held if r.rdtype == dns.rdatatype.CNAME]
                if cnames and question.rdtype != dns.rdatatype.CNAME:
                    response.answer.append(dns.rrset.from_rdata_list(name, self.ttl, cnames[:1]))
                    name, seen = cnames[0].target, seen + 1  # type: ignore[attr-defined]
                    continue
                wanted = [r for r in held if r.rdtype == question.rdtype]
                if wanted:
                    response.answer.append(dns.rrset.from_rdata_list(name, self.ttl, wanted))
                elif not held and not response.answer:
                    response.set_rcode(dns.rcode.NXDOMAIN)
                break
        wire_out = response.to_wire()
        if transport == "udp" and len(wire_out) > 512 and query.payload <= 512:
            response.answer.clear()
            response.flags |= dns.flags.TC
            wire_out = response.to_wire()
        return wire_out

    # --- serving ----------------------------------------------------------------------------------------

    def start(self) -> FakeDns:
        fake = self

        class Udp(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                data, sock = self.request
                out = fake.answer(data, "udp")
                if out is not None:
                    sock.sendto(out, self.client_address)

        class Tcp(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                conn: socket.socket = self.request
                head = conn.recv(2)
                if len(head) < 2:
                    return
                size = struct.unpack("!H", head)[0]
                data = b""
                while len(data) < size:
                    chunk = conn.recv(size - len(data))
                    if not chunk:
                        return
                    data += chunk
                out = fake.answer(data, "tcp")
                if out is not None:
                    conn.sendall(struct.pack("!H", len(out)) + out)

        socketserver.ThreadingUDPServer.daemon_threads = True
        socketserver.ThreadingTCPServer.daemon_threads = True
        for _ in range(20):  # the TCP server takes the port the UDP one got
            udp = socketserver.ThreadingUDPServer(("127.0.0.1", 0), Udp)
            try:
                socketserver.ThreadingTCPServer.allow_reuse_address = True
                tcp = socketserver.ThreadingTCPServer(("127.0.0.1", udp.server_address[1]), Tcp)
            except OSError:
                udp.server_close()
                continue
            self._udp, self._tcp = udp, tcp
            break
        else:
            raise RuntimeError("no free port for both UDP and TCP")
        for server in (self._udp, self._tcp):
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        for server in (self._udp, self._tcp):
            if server is not None:
                server.shutdown()
                server.server_close()

    def __enter__(self) -> FakeDns:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
