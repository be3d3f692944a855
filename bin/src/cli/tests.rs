//! The command line's parsing, checked flag by flag.

use super::*;

/// The flags' written-out defaults restate the library's: they must not drift
/// apart (the help shows one, `Default` is what other callers get). The one
/// deliberate difference: `get` gives up on a silent server after a while.
#[test]
fn flag_defaults_are_the_library_defaults() {
    let Ok(Command::Run(run)) = parse(["tcpknobs", "run"]) else {
        panic!("run parses");
    };
    assert_eq!(
        run.client.config(RUN_RESPONSE_TIMEOUT),
        ClientConfig::default()
    );
    assert_eq!(run.server.config(), ServerConfig::default());
    let e = run.experiment();
    assert_eq!(e.client_knobs, Knobs::default());
    assert_eq!(e.server_knobs, Knobs::default());
}

/// No subcommand is the tour.
#[test]
fn no_command_is_the_tour() {
    assert!(matches!(parse(["tcpknobs"]), Ok(Command::Tour(_))));
}

/// `get` gives up on a silent server after five minutes unless told otherwise;
/// `off` switches the timeout off, a duration sets it.
#[test]
fn response_timeouts() {
    let timeout = |args: &[&str]| {
        let mut all = vec!["tcpknobs", "get"];
        all.extend_from_slice(args);
        all.push("http://10.77.0.1/");
        let Ok(Command::Get(get)) = parse(all) else {
            panic!("get parses");
        };
        get.client.config(GET_RESPONSE_TIMEOUT).timeout
    };
    assert_eq!(timeout(&[]), Some(Duration::from_secs(300)));
    assert_eq!(timeout(&["--client-timeout", "off"]), None);
    assert_eq!(
        timeout(&["--client-timeout", "5s"]),
        Some(Duration::from_secs(5))
    );
}

/// Each knob's help ends with every profile's value of it.
#[test]
fn knob_help_lists_each_profile() {
    let help = knob_help("Delay", |k| format_smol(k.time_wait));
    assert_eq!(help, "Delay [linux: 60s; book: 120s]");
}

/// The lab's value errors reach the user through clap, which names the flag.
#[test]
fn clap_error_names_flag_and_accepted_form() {
    use tcpknobs_lab::values::parse_duration;
    let ms = StdDuration::from_millis;

    #[derive(Parser, Debug)]
    struct Cli {
        #[arg(long, value_name = "DUR", value_parser = parse_duration)]
        rtt: StdDuration,
        // Spelled with a path so clap's derive does not treat it as an optional flag.
        #[arg(long, value_parser = parse_rate, default_value = "unlimited")]
        rate: std::option::Option<u64>,
        #[arg(long, value_parser = parse_delayed_ack, default_value = "40ms")]
        delayed_ack: std::option::Option<StdDuration>,
    }

    let err = Cli::try_parse_from(["t", "--rtt", "fast"]).unwrap_err();
    let rendered = err.render().to_string();
    assert!(rendered.contains("'--rtt <DUR>'"), "{rendered}");
    assert!(rendered.contains("'fast'"), "{rendered}");
    assert!(
        rendered.contains("250us, 40ms, 1.5s, 2m (or 0)"),
        "{rendered}"
    );

    let ok = Cli::try_parse_from(["t", "--rtt", "40ms", "--rate", "10mbit"]).unwrap();
    assert_eq!(ok.rtt, ms(40));
    assert_eq!(ok.rate, Some(10_000_000));
    assert_eq!(ok.delayed_ack, Some(ms(40)));

    let ok = Cli::try_parse_from(["t", "--rtt", "0", "--delayed-ack", "off"]).unwrap();
    assert_eq!(ok.rtt, StdDuration::ZERO);
    assert_eq!(ok.rate, None);
    assert_eq!(ok.delayed_ack, None);
}

#[test]
fn urls() {
    let u = parse_url("http://10.77.0.1:8000/a/b?c=d#frag").unwrap();
    assert_eq!(
        u,
        Url {
            addr: Ipv4Addr::new(10, 77, 0, 1),
            port: 8000,
            target: "/a/b?c=d".into()
        }
    );
    assert_eq!(u.to_string(), "http://10.77.0.1:8000/a/b?c=d");
    let u = parse_url("HTTP://10.77.0.2").unwrap();
    assert_eq!((u.port, u.target.as_str()), (80, "/"));
    for (bad, says) in [
        ("https://10.77.0.1/", "only http://"),
        ("10.77.0.1/", "not a URL"),
        ("http://example.com/", "no DNS"),
        ("http://10.77.0.1:0/", "port"),
        ("http://10.77.0.1:99999/", "port"),
        ("http://10.77.0.1:x/", "port"),
        ("http://u@10.77.0.1/", "user information"),
        ("http://10.77.0.1/a b", "visible ASCII"),
        ("http://[::1]/", "IPv4"),
        ("http://", "IPv4"),
    ] {
        let e = parse_url(bad).unwrap_err();
        assert!(e.contains(says), "{bad}: {e}");
    }
}

#[test]
fn cidrs() {
    let c = parse_cidr("10.77.0.2/24").unwrap();
    assert_eq!(c.to_string(), "10.77.0.2/24");
    for (bad, says) in [
        ("10.77.0.2", "prefix length"),
        ("10.77.0.2/33", "1 to 30"),
        ("10.77.0.2/0", "1 to 30"),
        ("10.77.0.2/32", "1 to 30"),
        ("10.77.0.0/24", "network or broadcast"),
        ("10.77.0.255/24", "network or broadcast"),
        ("10.77.0/24", "not an IPv4"),
    ] {
        let e = parse_cidr(bad).unwrap_err();
        assert!(e.contains(says), "{bad}: {e}");
    }
}
