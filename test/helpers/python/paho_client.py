#!/usr/bin/python3
"""A Paho Python (1.6.x) peer for interoperability tests, driven by command-line options.

  paho_client.py sub --port P --topic T [--qos Q] [--count N] [--timeout S] [--version 3|4|5] [--transport tcp|websockets]
  paho_client.py pub --port P --topic T --message M [--qos Q] [--retain] [--count N] [--version 3|4|5] [...]

v5 properties on publish: --user-property K=V (repeatable), --content-type, --response-topic,
--correlation-data (hex), --payload-format 0|1, --message-expiry S.

`sub` prints READY once its SUBACK arrived, then one JSON line per message (topic, payload hex, qos, retain and the
v5 properties), and exits 0 after --count messages or 1 on timeout. `pub` exits 0 once every publish completed
(PUBACK/PUBCOMP for QoS 1/2). Errors go to stderr with a non-zero exit status.
"""
import argparse
import binascii
import json
import sys
import threading

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["pub", "sub"])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--transport", choices=["tcp", "websockets"], default="tcp")
    p.add_argument("--ws-path", default="/mqtt")
    p.add_argument("--version", type=int, choices=[3, 4, 5], default=4)
    p.add_argument("--client-id", default="")
    p.add_argument("--topic", required=True)
    p.add_argument("--qos", type=int, choices=[0, 1, 2], default=0)
    p.add_argument("--count", type=int, default=1)
    p.add_argument("--timeout", type=float, default=20.0)
    p.add_argument("--message", default="")
    p.add_argument("--retain", action="store_true")
    p.add_argument("--user-property", action="append", default=[])
    p.add_argument("--content-type")
    p.add_argument("--response-topic")
    p.add_argument("--correlation-data")
    p.add_argument("--payload-format", type=int, choices=[0, 1])
    p.add_argument("--message-expiry", type=int)
    return p.parse_args()


def publish_properties(args):
    props = Properties(PacketTypes.PUBLISH)
    used = False
    for kv in args.user_property:
        key, _, value = kv.partition("=")
        # paho appends each assignment of UserProperty to the list
        props.UserProperty = (key, value)
        used = True
    if args.content_type is not None:
        props.ContentType = args.content_type
        used = True
    if args.response_topic is not None:
        props.ResponseTopic = args.response_topic
        used = True
    if args.correlation_data is not None:
        props.CorrelationData = binascii.unhexlify(args.correlation_data)
        used = True
    if args.payload_format is not None:
        props.PayloadFormatIndicator = args.payload_format
        used = True
    if args.message_expiry is not None:
        props.MessageExpiryInterval = args.message_expiry
        used = True
    return props if used else None


def properties_json(props):
    if props is None:
        return {}
    out = {}
    if hasattr(props, "UserProperty"):
        out["userProperties"] = [list(kv) for kv in props.UserProperty]
    if hasattr(props, "ContentType"):
        out["contentType"] = props.ContentType
    if hasattr(props, "ResponseTopic"):
        out["responseTopic"] = props.ResponseTopic
    if hasattr(props, "CorrelationData"):
        out["correlationData"] = binascii.hexlify(props.CorrelationData).decode()
    if hasattr(props, "PayloadFormatIndicator"):
        out["payloadFormatIndicator"] = props.PayloadFormatIndicator
    if hasattr(props, "MessageExpiryInterval"):
        out["messageExpiryInterval"] = props.MessageExpiryInterval
    if hasattr(props, "SubscriptionIdentifier"):
        out["subscriptionIdentifiers"] = props.SubscriptionIdentifier
    return out


def main():
    args = parse_args()
    v5 = args.version == 5
    client = mqtt.Client(
        client_id=args.client_id,
        protocol={3: mqtt.MQTTv31, 4: mqtt.MQTTv311, 5: mqtt.MQTTv5}[args.version],
        transport=args.transport,
        **({} if v5 else {"clean_session": True}),
    )
    if args.transport == "websockets":
        client.ws_set_options(path=args.ws_path)
    done = threading.Event()
    state = {"received": 0, "completed": 0, "error": None}

    def on_connect(c, userdata, flags, rc, properties=None):
        code = rc.value if hasattr(rc, "value") else rc
        if code != 0:
            state["error"] = "connect refused: %s" % rc
            done.set()
            return
        if args.mode == "sub":
            c.subscribe(args.topic, qos=args.qos)
        else:
            props = publish_properties(args) if v5 else None
            for i in range(args.count):
                payload = args.message if args.count == 1 else "%s %d" % (args.message, i)
                # on_publish fires when QoS 0 is written and when QoS 1/2 is acknowledged
                c.publish(args.topic, payload.encode(), qos=args.qos, retain=args.retain, properties=props)

    def on_subscribe(c, userdata, mid, granted, properties=None):
        codes = [g.value if hasattr(g, "value") else g for g in granted]
        if any(code >= 0x80 for code in codes):
            state["error"] = "subscribe refused: %s" % codes
            done.set()
            return
        print("READY", flush=True)

    def on_message(c, userdata, msg):
        line = {
            "topic": msg.topic,
            "payload": binascii.hexlify(msg.payload).decode(),
            "qos": msg.qos,
            "retain": bool(msg.retain),
            "properties": properties_json(getattr(msg, "properties", None)) if v5 else {},
        }
        print(json.dumps(line), flush=True)
        state["received"] += 1
        if state["received"] >= args.count:
            done.set()

    def on_publish(c, userdata, mid):
        state["completed"] += 1
        if state["completed"] >= args.count:
            done.set()

    def on_disconnect(c, userdata, rc, properties=None):
        if not done.is_set():
            state["error"] = "disconnected: %s" % rc
            done.set()

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.on_publish = on_publish
    client.on_disconnect = on_disconnect
    client.connect(args.host, args.port, keepalive=30)
    client.loop_start()
    finished = done.wait(args.timeout)
    client.on_disconnect = None
    client.disconnect()
    client.loop_stop()
    if state["error"]:
        print(state["error"], file=sys.stderr)
        return 1
    if not finished:
        print("timed out after %.1fs (received %d, completed %d)" % (args.timeout, state["received"], state["completed"]),
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
