//! The tour in Korean.

use super::text::Key;
use super::Name;

/// The Korean text of `key`.
pub fn text(key: Key) -> &'static str {
    match key {
        Key::Title => "tcpknobs 투어: 《HTTP 완벽 가이드》 4장을 직접 측정하기",
        Key::Profile => "프로파일",
        Key::Item => "항목",
        Key::Predicted => "예측",
        Key::Measured => "측정",
        Key::Within => "허용 오차",
        Key::Pass => "통과",
        Key::Fail => "실패",
        Key::Blame => "가장 큰 원인",
        Key::Reproduce => "재현",
        Key::Summary => "요약",
        Key::Covered => "다룬 장 항목",
        Key::Passed => "맞은 예측",
        Key::Biggest => "측정된 가장 큰 효과",
        Key::LostBytes => "RST로 잃은 응답 바이트",
        Key::FailedTransactions => "실패한 트랜잭션",
        Key::Retries => "재시도",
        Key::NoTimePrediction => "(개수가 예측 대상)",
        Key::Claim(name) => claim(name),
        Key::Why(name) => why(name),
    }
}

fn claim(name: Name) -> &'static str {
    match name {
        Name::Latency => "작은 트랜잭션의 시간은 대부분 서버가 아니라 TCP에 쓰인다.",
        Name::Handshake => "새 커넥션은 핸드셰이크에 왕복 시간 하나를 통째로 쓴다.",
        Name::DelayedAck => "확인응답 지연은 요청/응답 트래픽에 타이머만큼 지연을 더한다.",
        Name::SlowStart => "새 커넥션은 왕복마다 몇 개의 세그먼트만 보낼 수 있다(느린 시작).",
        Name::Nagle => "네이글 알고리즘과 확인응답 지연이 만나면 작은 쓰기가 멈춘다.",
        Name::NagleTail => "고전 네이글은 응답의 작은 꼬리를 붙잡고, 민셜 변형은 그러지 않는다.",
        Name::TimeWait => "TIME_WAIT는 새 커넥션을 초당 포트 수 / 2MSL 개로 제한한다.",
        Name::Serial => "순차 로딩은 객체마다 핸드셰이크 비용을 치른다.",
        Name::Parallel => "병렬 커넥션은 지연을 겹치게 한다.",
        Name::NarrowLink => "좁은 링크에서 병렬 커넥션은 대역폭을 나눠 쓸 뿐이다.",
        Name::Persistent => "지속 커넥션은 핸드셰이크를 한 번만 치른다.",
        Name::KeepAlive => "HTTP/1.0은 서버가 Keep-Alive를 되돌려 줄 때만 커넥션을 유지한다.",
        Name::DumbProxy => "Keep-Alive를 그대로 전달하는 멍청한 프락시는 클라이언트를 멈추게 한다.",
        Name::ConnectionClose => {
            "Connection: close는 지속을 끝내고, 답을 못 받은 GET은 재시도된다."
        }
        Name::Pipelining => {
            "파이프라이닝은 응답을 기다리지 않고 요청을 보낸다. POST는 절대 안 된다."
        }
        Name::Truncation => "Content-Length보다 짧은 응답은 믿을 수 없다.",
        Name::Retry => "GET은 끊긴 응답 뒤 재시도되지만 POST는 절대 재시도되지 않는다.",
        Name::Reset => {
            "읽지 않은 입력이 남은 채로 완전히 닫으면 RST가 가고 상대는 데이터를 잃는다."
        }
    }
}

fn why(name: Name) -> &'static str {
    match name {
        Name::Latency => {
            "커넥션 1 RTT + 요청과 응답 1 RTT + 서버 처리 시간 (실험실에는 DNS가 없다)"
        }
        Name::Handshake => {
            "순차: 요청마다 2 RTT, 그 절반이 핸드셰이크; 지속: 핸드셰이크 한 번, 요청마다 1 RTT"
        }
        Name::DelayedAck => {
            "요청의 두 번째 쓰기는 첫 쓰기의 ACK를 기다리고(네이글), 서버는 그 ACK를 \
             타이머만큼 붙잡는다: 2 RTT + 타이머 + 1 RTT"
        }
        Name::SlowStart => {
            "핸드셰이크 1 RTT + IW에서 두 배씩 커지는 윈도의 라운드마다 1 RTT \
             (세그먼트마다 ACK: 확인응답 지연은 윈도 증가를 늦추므로 껐다)"
        }
        Name::Nagle => {
            "2 RTT + 멈춤: 두 번째 쓰기는 첫 쓰기의 ACK를 1 RTT 기다리고, 빠른 ACK가 \
             첫 세그먼트들에 즉시 답하지 않으면 확인응답 지연 타이머가 더해진다"
        }
        Name::NagleTail => {
            "고전 네이글은 MSS보다 작은 꼬리를 꽉 찬 세그먼트의 ACK까지 붙잡는다: \
             2 RTT + 타이머 + 1 RTT; 민셜은 앞선 작은 세그먼트 뒤에서만 붙잡는다: 2 RTT \
             (초기 윈도가 1이면 네이글과 상관없이 윈도가 꼬리를 붙잡는다)"
        }
        Name::TimeWait => {
            "2 RTT짜리 순차 커넥션; 각 포트는 연결 후 3 RTT + 2MSL 뒤에 다시 쓸 수 있다; \
             상한은 초당 포트 수 / 2MSL"
        }
        Name::Serial => {
            "HTML 하나와 이미지 셋: 순차 4 x 2 RTT; 지속 1 + 4 RTT; 병렬 2 RTT + 2 RTT; \
             파이프라인 2 RTT + 1 RTT"
        }
        Name::Parallel => "HTML 2 RTT, 그 다음 이미지 커넥션 N개씩 한 묶음마다 2 RTT",
        Name::NarrowLink => {
            "이미지를 요청하면 링크는 쉬지 않는다: 병렬 4 RTT + 전송 시간; 지속 2 RTT + \
             이미지마다 1 RTT + 전송 시간 (윈도 증가는 ACK당 한 세그먼트로, RTO 하한은 RFC 6298의 \
             1초로 고정: 큐가 쌓이면 리눅스의 200 ms 하한은 헛되이 만료되는데, 리눅스는 이를 \
             F-RTO로 알아채지만 이 실험실은 그렇지 않다)"
        }
        Name::Persistent => "요청 4개: 순차 4 x 2 RTT; 지속 (1 + 4) RTT",
        Name::KeepAlive => {
            "되돌려 주면 커넥션 하나로 (1 + 4) RTT; 아니면 요청마다 새 커넥션, 4 x 2 RTT"
        }
        Name::DumbProxy => {
            "첫 요청은 새 커넥션 둘을 거쳐 4 RTT; 멍청한 프락시는 두 번째 요청에 답하지 \
             않는다: + 클라이언트 타임아웃; 똑똑한 프락시는 2 RTT에 답한다"
        }
        Name::ConnectionClose => {
            "서버는 응답 2개 뒤 닫는다: 2 RTT + 1 RTT, 답을 못 받은 요청은 새 커넥션에서 \
             2 RTT + 1 RTT; 제한이 없으면 2 RTT + 1 RTT"
        }
        Name::Pipelining => {
            "HTML 2 RTT, 그 다음 이미지 요청을 한 번에 써서 1 RTT (초기 윈도를 넘는 응답은 \
             앞 응답의 ACK를 기다린다: 확인응답 지연 + RTT); POST는 지속처럼 하나씩: (1 + 4) RTT"
        }
        Name::Truncation => "시도마다 새 커넥션 2 RTT; 짧은 응답은 성공이 아니라 실패로 보고된다",
        Name::Retry => "GET: (1 + 재시도) x 2 RTT; POST: 한 번만, 2 RTT",
        Name::Reset => {
            "서버는 이미지 하나에 Connection: close로 답하고 나머지 요청을 읽지 않은 채 \
             닫는다: 스택은 이미지의 첫 윈도(IW 세그먼트) 뒤에 RST를 보내고, 클라이언트는 \
             받은 그 데이터를 잃는다; 우아한 종료: 0"
        }
    }
}
