//! Membership and failure detection: SWIM (the `foca` crate) on its own OS thread with
//! its own UDP socket, on the same port number as the node's `cluster_addr`.
//!
//! Why a thread of its own: ractor_cluster has no failure detector (FACTS.md), and a
//! detector running on the tokio workers would miss its probes exactly when the node is
//! busiest (embedding batches, reasoning, folds), declaring a loaded node dead. This
//! thread does nothing but wait on its socket and timers, so CPU work elsewhere delays
//! it by a scheduling slice at most.
//!
//! Every packet carries an HMAC-SHA256 tag keyed by the cluster cookie: a packet from a
//! node with another cookie (or forged, or damaged) is dropped before foca sees it.
//!
//! Identities: a node is its name plus its incarnation (the time it started, in ms), so
//! a restarted node is a new identity. A packet from an incarnation older than the
//! newest one seen for that name is refused; foca itself replaces the old identity by
//! the new one (`Identity::win_addr_conflict`). A node wrongly declared down renews
//! itself (same incarnation, next renewal) and rejoins.
//!
//! This module only observes: it reports alive / suspect / down per node. Deciding that
//! a node is offline is the grid master's job ([`crate::grid`]).

use crate::config::MembershipConfig;
use crate::protocol::codec;
use foca::{Codec, Config, Foca, Member, OwnedNotification, Timer};
use hmac::{KeyInit, Mac};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BinaryHeap};
use std::net::{SocketAddr, UdpSocket};
use std::num::{NonZeroU8, NonZeroUsize};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// Length of the authentication tag in front of every packet.
const TAG_LEN: usize = 32;
/// Largest membership packet (foca's payload plus the tag); small enough for any path.
const MAX_PACKET: usize = 1400;

/// One node's identity in the membership protocol.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NodeIdentity {
    /// The node's name from the topology (unique).
    pub name: String,
    /// Where its membership socket listens (the port of its cluster_addr, over UDP).
    pub addr: SocketAddr,
    /// When this process started, in ms since the epoch: a restart is a new incarnation.
    pub incarnation: u64,
    /// Bumped when this process was declared down by mistake and rejoins.
    pub renewal: u16,
}

impl foca::Identity for NodeIdentity {
    type Addr = String;

    fn renew(&self) -> Option<Self> {
        Some(NodeIdentity {
            renewal: self.renewal.wrapping_add(1),
            ..self.clone()
        })
    }

    fn addr(&self) -> String {
        self.name.clone()
    }

    fn win_addr_conflict(&self, adversary: &Self) -> bool {
        (self.incarnation, self.renewal) > (adversary.incarnation, adversary.renewal)
    }
}

/// foca's messages through the one codec module.
struct WireCodec;

impl Codec<NodeIdentity> for WireCodec {
    type Error = codec::CodecError;

    fn encode_header(
        &mut self,
        header: &foca::Header<NodeIdentity>,
        mut buf: impl bytes::BufMut,
    ) -> Result<(), Self::Error> {
        buf.put_slice(&codec::encode(header));
        Ok(())
    }

    fn decode_header(
        &mut self,
        mut buf: impl bytes::Buf,
    ) -> Result<foca::Header<NodeIdentity>, Self::Error> {
        let (header, used) = codec::decode_prefix(buf.chunk())?;
        buf.advance(used);
        Ok(header)
    }

    fn encode_member(
        &mut self,
        member: &Member<NodeIdentity>,
        mut buf: impl bytes::BufMut,
    ) -> Result<(), Self::Error> {
        buf.put_slice(&codec::encode(member));
        Ok(())
    }

    fn decode_member(
        &mut self,
        mut buf: impl bytes::Buf,
    ) -> Result<Member<NodeIdentity>, Self::Error> {
        let (member, used) = codec::decode_prefix(buf.chunk())?;
        buf.advance(used);
        Ok(member)
    }
}

/// What this node's detector thinks of another node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PeerState {
    /// Answering probes.
    Alive,
    /// Missed a probe (direct and indirect); declared down unless it refutes in time.
    Suspect,
    /// Declared down by the protocol.
    Down,
}

/// A change seen by the detector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerEvent {
    /// The node.
    pub name: String,
    /// Its incarnation.
    pub incarnation: u64,
    /// Its new state.
    pub state: PeerState,
}

/// One peer as the detector sees it now.
#[derive(Clone, Debug)]
pub struct PeerView {
    /// Its incarnation.
    pub incarnation: u64,
    /// Its state.
    pub state: PeerState,
    /// When it entered that state.
    pub since: Instant,
}

/// Signs `payload` with the cookie: tag first, then the payload.
pub fn seal_packet(key: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(payload);
    let tag = mac.finalize().into_bytes();
    let mut out = Vec::with_capacity(TAG_LEN + payload.len());
    out.extend_from_slice(&tag);
    out.extend_from_slice(payload);
    out
}

/// The payload of a packet whose tag matches the cookie (compared in constant time).
pub fn open_packet<'a>(key: &[u8], packet: &'a [u8]) -> Option<&'a [u8]> {
    let (tag, payload) = (packet.get(..TAG_LEN)?, packet.get(TAG_LEN..)?);
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(payload);
    mac.verify_slice(tag).ok().map(|()| payload)
}

/// foca's settings from `[membership]`.
pub fn foca_config(m: &MembershipConfig) -> Config {
    let mut c = Config::simple();
    c.probe_period = Duration::from_millis(m.probe_period_ms);
    c.probe_rtt = Duration::from_millis(m.probe_rtt_ms);
    c.num_indirect_probes =
        NonZeroUsize::new(m.indirect_probes as usize).unwrap_or(NonZeroUsize::MIN);
    c.suspect_to_down_after = Duration::from_millis(m.suspect_to_down_ms);
    c.max_transmissions = NonZeroU8::new(10).unwrap_or(NonZeroU8::MIN);
    c.max_packet_size = NonZeroUsize::new(MAX_PACKET - TAG_LEN).unwrap_or(NonZeroUsize::MIN);
    // A node that thinks a live peer is down tells it, so the peer renews and rejoins.
    c.notify_down_members = true;
    c
}

/// State shared by the detector thread and its readers.
struct Shared {
    me: NodeIdentity,
    peers: Mutex<BTreeMap<String, PeerView>>,
    events: tokio::sync::broadcast::Sender<PeerEvent>,
    stop: AtomicBool,
    refused_auth: AtomicU64,
    refused_stale: AtomicU64,
}

/// A running detector; dropping it stops the thread (after telling the others it leaves).
pub struct Membership {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// What [`Membership::start`] needs.
pub struct MembershipArgs {
    /// This node's name.
    pub name: String,
    /// Its cluster address; the detector binds UDP on the same address and port.
    pub addr: SocketAddr,
    /// Its incarnation (start time in ms).
    pub incarnation: u64,
    /// The cluster cookie (the HMAC key).
    pub cookie: String,
    /// The other nodes of the topology (name, cluster address).
    pub peers: Vec<(String, SocketAddr)>,
    /// Timings.
    pub config: MembershipConfig,
}

impl Membership {
    /// Binds the UDP socket and starts the detector thread.
    pub fn start(args: MembershipArgs) -> Result<Membership, String> {
        let socket = UdpSocket::bind(args.addr).map_err(|e| {
            format!(
                "cannot bind the membership socket udp://{}: {e}; the cluster_addr port must be free for both TCP and UDP",
                args.addr
            )
        })?;
        let me = NodeIdentity {
            name: args.name,
            addr: args.addr,
            incarnation: args.incarnation,
            renewal: 0,
        };
        let (events, _) = tokio::sync::broadcast::channel(1024);
        let shared = Arc::new(Shared {
            me: me.clone(),
            peers: Mutex::new(BTreeMap::new()),
            events,
            stop: AtomicBool::new(false),
            refused_auth: AtomicU64::new(0),
            refused_stale: AtomicU64::new(0),
        });
        let detector = Detector {
            foca: Foca::new(
                me,
                foca_config(&args.config),
                <rand::rngs::SmallRng as rand::SeedableRng>::seed_from_u64(args.incarnation),
                WireCodec,
            ),
            runtime: foca::AccumulatingRuntime::new(),
            timers: BinaryHeap::new(),
            seq: 0,
            socket,
            key: args.cookie.into_bytes(),
            seeds: args.peers,
            newest: BTreeMap::new(),
            shared: Arc::clone(&shared),
            announce_every: Duration::from_millis(args.config.probe_period_ms),
        };
        let thread = std::thread::Builder::new()
            .name("sutra-membership".into())
            .spawn(move || detector.run())
            .map_err(|e| format!("cannot start the membership thread: {e}"))?;
        Ok(Membership {
            shared,
            thread: Some(thread),
        })
    }

    /// This node's identity.
    pub fn me(&self) -> &NodeIdentity {
        &self.shared.me
    }

    /// Every other node the detector knows, by name.
    pub fn peers(&self) -> BTreeMap<String, PeerView> {
        self.shared
            .peers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Changes as they happen (a slow reader misses old ones and re-reads [`Self::peers`]).
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<PeerEvent> {
        self.shared.events.subscribe()
    }

    /// Packets dropped for a wrong tag (another cookie) and for an old incarnation.
    pub fn refused(&self) -> (u64, u64) {
        (
            self.shared.refused_auth.load(Ordering::Relaxed),
            self.shared.refused_stale.load(Ordering::Relaxed),
        )
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A timer due at an instant; the heap pops the earliest first.
struct Due {
    at: Instant,
    seq: u64,
    timer: Timer<NodeIdentity>,
}

impl PartialEq for Due {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Due {}
impl PartialOrd for Due {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Due {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (o.at, o.seq).cmp(&(self.at, self.seq))
    }
}

struct Detector {
    foca: Foca<NodeIdentity, WireCodec, rand::rngs::SmallRng, foca::NoCustomBroadcast>,
    runtime: foca::AccumulatingRuntime<NodeIdentity>,
    timers: BinaryHeap<Due>,
    seq: u64,
    socket: UdpSocket,
    key: Vec<u8>,
    /// The topology's other nodes: announced to until they are members.
    seeds: Vec<(String, SocketAddr)>,
    /// Newest incarnation seen per name; packets from older ones are refused.
    newest: BTreeMap<String, u64>,
    shared: Arc<Shared>,
    announce_every: Duration,
}

impl Detector {
    fn run(mut self) {
        let mut buf = vec![0u8; 64 * 1024];
        let mut next_announce = Instant::now();
        let mut last_auth_warning: Option<Instant> = None;
        loop {
            if self.shared.stop.load(Ordering::Relaxed) {
                let _ = self.foca.leave_cluster(&mut self.runtime);
                self.flush();
                return;
            }
            let now = Instant::now();
            if now >= next_announce {
                self.announce_to_missing_seeds();
                next_announce = now + self.announce_every;
            }
            let wake = self
                .timers
                .peek()
                .map_or(next_announce, |d| d.at.min(next_announce));
            // Short waits at most, so a stop request is seen quickly.
            let wait = wake
                .saturating_duration_since(Instant::now())
                .clamp(Duration::from_millis(1), Duration::from_millis(50));
            let _ = self.socket.set_read_timeout(Some(wait));
            match self.socket.recv_from(&mut buf) {
                Ok((n, from)) => match open_packet(&self.key, &buf[..n]) {
                    Some(payload) => {
                        let payload = payload.to_vec();
                        self.receive(&payload);
                    }
                    None => {
                        self.shared.refused_auth.fetch_add(1, Ordering::Relaxed);
                        if last_auth_warning.is_none_or(|t| t.elapsed() > Duration::from_secs(10)) {
                            last_auth_warning = Some(Instant::now());
                            tracing::warn!(%from, "refused a membership packet with a bad tag: check that every node uses the same cluster.cookie");
                        }
                    }
                },
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => tracing::debug!(error = %e, "membership socket"),
            }
            let now = Instant::now();
            while self.timers.peek().is_some_and(|d| d.at <= now) {
                let Some(due) = self.timers.pop() else { break };
                if let Err(e) = self.foca.handle_timer(due.timer, &mut self.runtime) {
                    tracing::debug!(error = %e, "membership timer");
                }
            }
            self.flush();
            self.publish();
        }
    }

    fn receive(&mut self, payload: &[u8]) {
        // Refuse what an older incarnation of a node still sends (a stale process, a
        // delayed packet): only its newest incarnation speaks for a name.
        if let Ok((header, _)) = codec::decode_prefix::<foca::Header<NodeIdentity>>(payload) {
            let src = &header.src;
            let newest = self
                .newest
                .entry(src.name.clone())
                .or_insert(src.incarnation);
            if src.incarnation < *newest {
                self.shared.refused_stale.fetch_add(1, Ordering::Relaxed);
                return;
            }
            *newest = src.incarnation;
        }
        if let Err(e) = self.foca.handle_data(payload, &mut self.runtime) {
            tracing::debug!(error = %e, "membership packet not applied");
        }
    }

    fn announce_to_missing_seeds(&mut self) {
        let members: Vec<String> = self
            .foca
            .iter_members()
            .map(|m| m.id().name.clone())
            .collect();
        for (name, addr) in self.seeds.clone() {
            if members.contains(&name) {
                continue;
            }
            // Announces are accepted by whoever owns the name, whatever its incarnation.
            let dst = NodeIdentity {
                name,
                addr,
                incarnation: 0,
                renewal: 0,
            };
            if let Err(e) = self.foca.announce(dst, &mut self.runtime) {
                tracing::debug!(error = %e, "membership announce");
            }
        }
        self.flush();
    }

    /// Sends what foca queued, schedules its timers and logs its notifications.
    fn flush(&mut self) {
        while let Some((to, data)) = self.runtime.to_send() {
            let packet = seal_packet(&self.key, &data);
            if let Err(e) = self.socket.send_to(&packet, to.addr) {
                tracing::debug!(peer = %to.name, error = %e, "membership send");
            }
        }
        while let Some((after, timer)) = self.runtime.to_schedule() {
            self.seq += 1;
            self.timers.push(Due {
                at: Instant::now() + after,
                seq: self.seq,
                timer,
            });
        }
        while let Some(n) = self.runtime.to_notify() {
            match n {
                OwnedNotification::Rejoin(id) => tracing::warn!(
                    renewal = id.renewal,
                    "this node was declared down by the others; rejoined"
                ),
                OwnedNotification::Defunct => {
                    tracing::warn!("this node was declared down by the others")
                }
                OwnedNotification::Rename(old, new) => tracing::info!(
                    peer = %new.name,
                    old = old.incarnation,
                    new = new.incarnation,
                    "a peer restarted (new incarnation)"
                ),
                other => tracing::debug!(?other, "membership"),
            }
        }
    }

    /// Copies foca's member states into the shared view and publishes the changes.
    fn publish(&mut self) {
        let now = Instant::now();
        let mut peers = self.shared.peers.lock().unwrap_or_else(|e| e.into_inner());
        for m in self.foca.iter_membership_state() {
            let id = m.id();
            let state = match m.state() {
                foca::State::Alive => PeerState::Alive,
                foca::State::Suspect => PeerState::Suspect,
                foca::State::Down => PeerState::Down,
            };
            let changed = peers
                .get(&id.name)
                .is_none_or(|p| p.state != state || p.incarnation != id.incarnation);
            // foca keeps a replaced identity as down for a while: never let an older
            // incarnation overwrite the newer one's state.
            if peers
                .get(&id.name)
                .is_some_and(|p| p.incarnation > id.incarnation)
            {
                continue;
            }
            if changed {
                peers.insert(
                    id.name.clone(),
                    PeerView {
                        incarnation: id.incarnation,
                        state,
                        since: now,
                    },
                );
                let _ = self.shared.events.send(PeerEvent {
                    name: id.name.clone(),
                    incarnation: id.incarnation,
                    state,
                });
                tracing::info!(peer = %id.name, incarnation = id.incarnation, ?state, "membership");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_are_authenticated_by_the_cookie() {
        let packet = seal_packet(b"right", b"hello");
        assert_eq!(open_packet(b"right", &packet), Some(&b"hello"[..]));
        assert_eq!(open_packet(b"wrong", &packet), None);
        let mut damaged = packet.clone();
        *damaged.last_mut().unwrap() ^= 1;
        assert_eq!(open_packet(b"right", &damaged), None);
        assert_eq!(open_packet(b"right", &packet[..10]), None);
    }

    #[test]
    fn a_newer_incarnation_wins_the_name() {
        use foca::Identity;
        let old = NodeIdentity {
            name: "n1".into(),
            addr: "127.0.0.1:1".parse().unwrap(),
            incarnation: 5,
            renewal: 3,
        };
        let new = NodeIdentity {
            incarnation: 6,
            renewal: 0,
            ..old.clone()
        };
        assert!(new.win_addr_conflict(&old));
        assert!(!old.win_addr_conflict(&new));
        assert!(old.renew().unwrap().win_addr_conflict(&old));
        assert_eq!(old.addr(), new.addr());
    }

    /// Three detectors on loopback find each other, and one that stops is down for the
    /// other two. (A silent death, kill -9, is tested across processes in
    /// tests/cluster.rs.)
    #[test]
    fn three_detectors_find_each_other_and_see_one_leave() {
        let addrs: Vec<SocketAddr> = (0..3)
            .map(|_| {
                let s = UdpSocket::bind("127.0.0.1:0").unwrap();
                s.local_addr().unwrap()
            })
            .collect();
        let names = ["a", "b", "c"];
        let config = MembershipConfig {
            probe_period_ms: 100,
            probe_rtt_ms: 40,
            suspect_to_down_ms: 300,
            ..MembershipConfig::default()
        };
        let mut nodes: Vec<Option<Membership>> = (0..3)
            .map(|i| {
                Some(
                    Membership::start(MembershipArgs {
                        name: names[i].into(),
                        addr: addrs[i],
                        incarnation: 1000 + i as u64,
                        cookie: "k".into(),
                        peers: (0..3)
                            .filter(|&j| j != i)
                            .map(|j| (names[j].to_string(), addrs[j]))
                            .collect(),
                        config: config.clone(),
                    })
                    .unwrap(),
                )
            })
            .collect();
        let wait = |nodes: &Vec<Option<Membership>>, ok: &dyn Fn(&Membership) -> bool| {
            let deadline = Instant::now() + Duration::from_secs(20);
            while !nodes.iter().flatten().all(ok) {
                assert!(Instant::now() < deadline, "membership never settled");
                std::thread::sleep(Duration::from_millis(20));
            }
        };
        wait(&nodes, &|m| {
            let p = m.peers();
            p.len() == 2 && p.values().all(|v| v.state == PeerState::Alive)
        });
        // c stops (it tells the others it leaves).
        drop(nodes[2].take());
        wait(&nodes, &|m| {
            m.peers()
                .get("c")
                .is_some_and(|v| v.state == PeerState::Down)
        });
    }
}
