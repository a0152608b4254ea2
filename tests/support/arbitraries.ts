/**
 * fast-check generators shared by the proof tests: CNI routes built from values a pod with
 * 10.131.0.5/23 and fd00:10::5/64 on eth0 (the Lab's and the model's pod) can accept.
 */
import fc from "fast-check";

/** Routes built only from acceptable values (the kernel may still refuse some). */
export const goodRouteArb = fc.oneof(
  fc.record({
    dst: fc.constantFrom(
      "10.60.0.0/16",
      "10.60.1.7/16",
      "10.61.0.0/24",
      "10.62.0.0/16",
      "0.0.0.0/0",
    ),
    gw: fc.option(fc.constantFrom("10.131.0.1", "10.131.1.200"), { nil: undefined }),
    mtu: fc.option(fc.constantFrom(1280, 1400), { nil: undefined }),
    priority: fc.option(fc.constantFrom(10, 100), { nil: undefined }),
    table: fc.option(fc.constantFrom(100, 254), { nil: undefined }),
  }, { requiredKeys: ["dst"] }),
  fc.record({
    dst: fc.constantFrom("fd00:20::/64", "fd00:21::/48", "::/0"),
    gw: fc.option(fc.constantFrom("fd00:10::1", "fd00:10::2"), { nil: undefined }),
    priority: fc.option(fc.constantFrom(10, 2000), { nil: undefined }),
  }, { requiredKeys: ["dst"] }),
);
