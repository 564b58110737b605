package dev.tidesync.server;

import com.nimbusds.jose.JOSEException;
import com.nimbusds.jose.JOSEObjectType;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.JWSHeader;
import com.nimbusds.jose.crypto.MACSigner;
import com.nimbusds.jose.crypto.MACVerifier;
import com.nimbusds.jose.jwk.KeyUse;
import com.nimbusds.jose.jwk.OctetSequenceKey;
import com.nimbusds.jose.jwk.gen.OctetSequenceKeyGenerator;
import com.nimbusds.jose.util.Base64URL;
import com.nimbusds.jwt.JWT;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.JWTParser;
import com.nimbusds.jwt.PlainJWT;
import com.nimbusds.jwt.SignedJWT;
import dev.tidesync.core.ServerState;
import dev.tidesync.core.Storage;
import dev.tidesync.protocol.ProtocolException;
import dev.tidesync.protocol.TidesyncException;
import java.text.ParseException;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.Date;
import java.util.List;
import java.util.Objects;
import java.util.UUID;

/**
 * Issues and verifies device tokens: JWTs signed with HMAC-SHA256 under one server-wide key.
 *
 * <p>The algorithm is pinned: a token whose header names anything but {@code HS256} (including
 * {@code none}) is refused before its signature is looked at, so no header can choose how it is
 * checked. Claims: {@code iss} {@value #ISSUER}, {@code sub} the device, {@code tenant},
 * {@code datasets} (names, or {@code ["*"]}), {@code role}, {@code iat}, {@code nbf}, {@code exp}.
 * Every failure to verify is a 401 {@link ProtocolException} whose code says why.
 */
public final class Tokens {
  public static final String ISSUER = "tidesync";
  /** Tolerated clock difference between the issuer and the server for {@code nbf} and {@code exp}. */
  public static final Duration SKEW = Duration.ofSeconds(30);
  public static final Duration MAX_TTL = Duration.ofDays(3650);
  private static final int MAX_TOKEN_LENGTH = 8192;

  private final OctetSequenceKey key;
  private final MACSigner signer;
  private final MACVerifier verifier;
  private final ServerState state;

  private Tokens(OctetSequenceKey key, ServerState state) {
    this.key = key;
    this.state = state;
    try {
      this.signer = new MACSigner(key);
      this.verifier = new MACVerifier(key);
    } catch (JOSEException e) {
      throw new TidesyncException("signing key unusable: " + e.getMessage(), false, e);
    }
  }

  /**
   * Tokens under the storage's signing key, generated and saved by the first caller (server or
   * operator command, whichever comes first); {@link #create} then also respects revocations.
   */
  public static Tokens of(Storage storage) {
    return new Tokens(parseKey(storage.state().signingKey(Tokens::newKey)), storage.state());
  }

  /** Tokens under a given key: a JWK ({@code {"kty":"oct","k":...}}) or base64 of at least 32 bytes. */
  public static Tokens withKey(String key) {
    return new Tokens(parseKey(key), null);
  }

  /** Tokens under a given key that also respect the storage's revocations when issuing. */
  public static Tokens withKey(String key, Storage storage) {
    return new Tokens(parseKey(key), storage.state());
  }

  /** A new random 256-bit key as a JWK. */
  public static String newKey() {
    try {
      return new OctetSequenceKeyGenerator(256).keyID(UUID.randomUUID().toString()).algorithm(JWSAlgorithm.HS256)
          .keyUse(KeyUse.SIGNATURE).generate().toJSONString();
    } catch (JOSEException e) {
      throw new TidesyncException("generating a signing key failed: " + e.getMessage(), false, e);
    }
  }

  static OctetSequenceKey parseKey(String text) {
    Objects.requireNonNull(text, "key");
    String t = text.strip();
    OctetSequenceKey k;
    try {
      if (t.startsWith("{")) {
        k = OctetSequenceKey.parse(t);
      } else {
        byte[] raw = decodeBase64(t);
        k = new OctetSequenceKey.Builder(raw).algorithm(JWSAlgorithm.HS256).build();
      }
    } catch (ParseException | IllegalArgumentException e) {
      throw new ProtocolException("bad_key", "signing key is neither a JWK of kty 'oct' nor base64: " + e.getMessage());
    }
    if (k.toByteArray().length < 32) {
      throw new ProtocolException("bad_key", "signing key has " + k.toByteArray().length + " bytes; HS256 needs at least 32");
    }
    return k;
  }

  private static byte[] decodeBase64(String t) {
    return t.contains("-") || t.contains("_") ? Base64URL.from(t).decode() : Base64.getDecoder().decode(t);
  }

  /**
   * A token valid from now for {@code ttl}. When the device was revoked within the current
   * second, waits for the next one: {@code iat} has whole seconds, and a token issued at the
   * revocation's second would be refused as issued "at or before" it.
   */
  public String create(String tenant, List<String> datasets, String device, Role role, Duration ttl) {
    if (ttl == null || ttl.isNegative() || ttl.isZero() || ttl.compareTo(MAX_TTL) > 0) {
      throw new ProtocolException("bad_ttl", "ttl must be positive and at most " + MAX_TTL.toDays() + " days, got " + ttl);
    }
    Instant now = Instant.now();
    if (state != null) {
      long revoked = state.revokedAt(tenant, device).orElse(Long.MIN_VALUE);
      while (now.getEpochSecond() * 1000 <= revoked) {
        sleep(1000 - now.toEpochMilli() % 1000 + 1);
        now = Instant.now();
      }
    }
    Instant iat = Instant.ofEpochSecond(now.getEpochSecond());
    return sign(new TokenClaims(tenant, datasets, device, role, iat, iat, iat.plus(ttl)));
  }

  /** Signs exactly these claims (tests make expired and not-yet-valid tokens with it). */
  public String sign(TokenClaims c) {
    JWTClaimsSet claims = new JWTClaimsSet.Builder()
        .issuer(ISSUER)
        .subject(c.device())
        .claim("tenant", c.tenant())
        .claim("datasets", c.datasets())
        .claim("role", c.role().wireName())
        .issueTime(Date.from(c.issuedAt()))
        .notBeforeTime(Date.from(c.notBefore()))
        .expirationTime(Date.from(c.expiresAt()))
        .build();
    SignedJWT jwt = new SignedJWT(new JWSHeader.Builder(JWSAlgorithm.HS256).type(JOSEObjectType.JWT).keyID(key.getKeyID()).build(), claims);
    try {
      jwt.sign(signer);
    } catch (JOSEException e) {
      throw new TidesyncException("signing a token failed: " + e.getMessage(), false, e);
    }
    return jwt.serialize();
  }

  /**
   * The token's claims when its signature, algorithm, issuer and validity window check out.
   * Revocation is not checked here: it lives in the storage and the server reads it per request.
   *
   * @throws ProtocolException 401 with code {@code token_invalid}, {@code token_expired} or
   *     {@code token_not_yet_valid}
   */
  public TokenClaims verify(String token, Instant now) {
    if (token == null || token.isBlank()) {
      throw invalid("empty token");
    }
    if (token.length() > MAX_TOKEN_LENGTH) {
      throw invalid("token longer than " + MAX_TOKEN_LENGTH + " characters");
    }
    JWT parsed;
    try {
      parsed = JWTParser.parse(token.strip());
    } catch (ParseException e) {
      throw invalid("not a JWT (" + e.getMessage() + ")");
    }
    if (parsed instanceof PlainJWT) {
      throw invalid("unsigned tokens (alg=none) are refused; only HS256 is accepted");
    }
    if (!(parsed instanceof SignedJWT jwt)) {
      throw invalid("encrypted tokens are not accepted; only HS256-signed ones");
    }
    // Pinned before verifying: the header never picks the algorithm.
    if (!JWSAlgorithm.HS256.equals(jwt.getHeader().getAlgorithm())) {
      throw invalid("algorithm " + jwt.getHeader().getAlgorithm() + " is refused; only HS256 is accepted");
    }
    try {
      if (!jwt.verify(verifier)) {
        throw invalid("signature does not match this server's key");
      }
    } catch (JOSEException e) {
      throw invalid("signature cannot be checked: " + e.getMessage());
    }
    return claims(jwt, now);
  }

  private static TokenClaims claims(SignedJWT jwt, Instant now) {
    JWTClaimsSet c;
    TokenClaims out;
    try {
      c = jwt.getJWTClaimsSet();
      if (!ISSUER.equals(c.getIssuer())) {
        throw invalid("issuer must be '" + ISSUER + "'");
      }
      Date iat = c.getIssueTime();
      Date exp = c.getExpirationTime();
      if (iat == null || exp == null) {
        throw invalid("iat and exp are required");
      }
      Date nbf = c.getNotBeforeTime() == null ? iat : c.getNotBeforeTime();
      List<String> datasets = c.getStringListClaim("datasets");
      out = new TokenClaims(c.getStringClaim("tenant"), datasets == null ? List.of() : datasets, c.getSubject(),
          Role.parse(c.getStringClaim("role")), iat.toInstant(), nbf.toInstant(), exp.toInstant());
    } catch (ParseException e) {
      throw invalid("claims are malformed: " + e.getMessage());
    } catch (ProtocolException e) {
      if (e.status() == 401) {
        throw e;
      }
      throw invalid("claims are malformed: " + e.getMessage());
    }
    if (now.isAfter(out.expiresAt().plus(SKEW))) {
      throw new ProtocolException("token_expired", 401, "token expired at " + out.expiresAt() + "; ask for a new one");
    }
    if (now.isBefore(out.notBefore().minus(SKEW))) {
      throw new ProtocolException("token_not_yet_valid", 401, "token is not valid before " + out.notBefore());
    }
    return out;
  }

  private static ProtocolException invalid(String why) {
    return new ProtocolException("token_invalid", 401, "token refused: " + why);
  }

  private static void sleep(long millis) {
    try {
      Thread.sleep(millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new TidesyncException("interrupted while waiting to issue a token", true, e);
    }
  }
}
