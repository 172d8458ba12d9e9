// A schedule's source address, interface and IP family, turned into the socket options of the
// process that runs the test. Node cannot bind a socket to a device (SO_BINDTODEVICE needs
// CAP_NET_RAW), so an interface stands for its address: on Linux a socket bound to an address
// leaves by that address's route, which is the interface's own unless policy routing says
// otherwise. Checked here, where the test runs: in a deployment the worker's network, not the
// web process's, is the one that counts.
import { networkInterfaces, type NetworkInterfaceInfo } from 'node:os';
import { isIP } from 'node:net';
import { SpeedtestError, type IpFamily, type SourceSelection } from './engine.ts';

export interface SocketSource {
  localAddress?: string;
  family?: IpFamily;
}

type Interfaces = NodeJS.Dict<NetworkInterfaceInfo[]>;

const familyOf = (info: NetworkInterfaceInfo): IpFamily => (info.family === 'IPv6' ? 6 : 4);
const name = (family: IpFamily) => `IPv${family}`;

/** The socket options for `source`; throws a 'bad-source' error naming the field that is wrong. */
export function socketSource(
  source: SourceSelection | undefined,
  interfaces: Interfaces = networkInterfaces(),
): SocketSource {
  if (!source) return {};
  const { sourceAddress, family } = source;
  if (sourceAddress) {
    const version = isIP(sourceAddress);
    if (!version) {
      throw new SpeedtestError(
        'bad-source',
        `sourceAddress "${sourceAddress}" is not an IP address`,
      );
    }
    if (family && family !== version) {
      throw new SpeedtestError(
        'bad-source',
        `sourceAddress ${sourceAddress} is ${name(version as IpFamily)} but family is ${name(family)}`,
      );
    }
    const all = Object.values(interfaces).flatMap((list) => list ?? []);
    if (!all.some((info) => info.address === sourceAddress)) {
      throw new SpeedtestError(
        'bad-source',
        `sourceAddress ${sourceAddress} is not an address of this host (it has ${all.map((info) => info.address).join(', ') || 'none'})`,
      );
    }
    return { localAddress: sourceAddress, family: version as IpFamily };
  }
  if (source.interface) {
    const list = interfaces[source.interface];
    if (!list) {
      throw new SpeedtestError(
        'bad-source',
        `interface "${source.interface}" does not exist on this host (it has ${Object.keys(interfaces).join(', ')})`,
      );
    }
    // A link-local address only reaches its own link, never a speed test server beyond it.
    const usable = list.filter(
      (info) => !(info.family === 'IPv6' && info.scopeid) && (!family || familyOf(info) === family),
    );
    const chosen = usable[0];
    if (!chosen) {
      throw new SpeedtestError(
        'bad-source',
        `interface ${source.interface} has no ${family ? name(family) : 'usable'} address`,
      );
    }
    return { localAddress: chosen.address, family: familyOf(chosen) };
  }
  return family ? { family } : {};
}

/**
 * Fails early, naming the server, when its URL is an address of the other family: Node would
 * connect by the literal address and ignore `family`, or fail with EINVAL on a bound socket.
 */
export function assertReachableFamily(host: string, source: SocketSource, what: string): void {
  const literal = isIP(host.replace(/^\[|\]$/g, ''));
  if (literal && source.family && literal !== source.family) {
    throw new SpeedtestError(
      'bad-source',
      `${what} has an ${name(literal as IpFamily)} address and cannot be reached over ${name(source.family)}`,
    );
  }
}
