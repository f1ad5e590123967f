"""python -m lab up|down|status|break FAULT|heal FAULT|faults|demo"""

from __future__ import annotations

import argparse
import sys

from lab import faults, services
from lab.core import Lab, LabError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab", description="The sre.runbooks lab of real services.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="start every lab service (and seed it)")
    sub.add_parser("down", help="stop every lab service; leaves no process behind")
    sub.add_parser("status", help="one line per service")
    sub.add_parser("faults", help="the faults break/heal know")
    sub.add_parser("image", help="build the application servers' image once (debootstrap), if this machine can")
    for name in ("break", "heal"):
        cmd = sub.add_parser(name, help=f"{name} one fault")
        cmd.add_argument("fault", help="fault name, see 'faults'")
    demo = sub.add_parser("demo", help="drills: fault -> plan -> auto remediation -> verified recovery")
    demo.add_argument("--keep", action="store_true", help="leave the lab running afterwards")
    demo.add_argument("--fault", action="append", help="a fault to drill (repeatable; default: "
                      "redis-primary-down, then bad-deploy)")
    args = parser.parse_args(argv)
    lab = Lab()
    try:
        if args.command == "up":
            services.up(lab)
            print("\n".join(services.status(lab)))
            print(f"lab state: {lab.state_file}")
        elif args.command == "down":
            services.down(lab)
            print("lab down")
        elif args.command == "status":
            print("\n".join(services.status(lab)))
            active = lab.load().get("faults") or []
            print("faults: " + (", ".join(active) if active else "none"))
        elif args.command == "image":
            from lab import host_image
            reason = host_image.unavailable_reason()
            print(f"host image: skipped, {reason}" if reason else f"host image: {host_image.build()}")
        elif args.command == "faults":
            for name, (description, _, _) in sorted(faults.FAULTS.items()):
                print(f"{name:22} {description}")
        elif args.command == "break":
            print(f"broken: {args.fault}: {faults.inject(lab, args.fault)}")
        elif args.command == "heal":
            faults.heal(lab, args.fault)
            print(f"healed: {args.fault}")
        elif args.command == "demo":
            from lab import demo
            return demo.run(lab, keep=args.keep, chosen=args.fault)
    except LabError as exc:
        print(f"lab {args.command}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
