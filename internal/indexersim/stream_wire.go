package indexersim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// The Stream API's event payloads, written from stream-js src/types.ts
// (ItemListedEventPayload, ItemSoldEventPayload, ItemTransferredEventPayload,
// ItemCancelledEventPayload, OrderValidationEventPayload,
// ItemMetadataUpdatePayload, BaseStreamMessage). Like the REST wire types
// they share nothing with any client's structs.

type streamAccount struct {
	Address string `json:"address"`
}

type streamChain struct {
	Name string `json:"name"`
}

type streamMetadata struct {
	Name         string  `json:"name"`
	ImageURL     string  `json:"image_url"`
	AnimationURL *string `json:"animation_url"`
	MetadataURL  string  `json:"metadata_url"`
	// Extended metadata (item_metadata_updated only).
	Description     *string        `json:"description,omitempty"`
	BackgroundColor *string        `json:"background_color,omitempty"`
	Traits          *[]streamTrait `json:"traits,omitempty"`
}

type streamTrait struct {
	TraitType   string  `json:"trait_type"`
	Value       *string `json:"value"`
	DisplayType *string `json:"display_type"`
	MaxValue    *int64  `json:"max_value"`
	TraitCount  *int64  `json:"trait_count"`
	Order       *int64  `json:"order"`
}

type streamItem struct {
	NFTID     string         `json:"nft_id"`
	Permalink string         `json:"permalink"`
	Metadata  streamMetadata `json:"metadata"`
	Chain     streamChain    `json:"chain"`
}

type streamSlug struct {
	Slug string `json:"slug"`
}

type streamPaymentToken struct {
	Address  string `json:"address"`
	Decimals int    `json:"decimals"`
	EthPrice string `json:"eth_price"`
	Name     string `json:"name"`
	Symbol   string `json:"symbol"`
	UsdPrice string `json:"usd_price"`
}

type streamTx struct {
	Hash      string `json:"hash"`
	Timestamp string `json:"timestamp"`
}

// streamBase is the Payload every item event starts with.
type streamBase struct {
	Item           streamItem `json:"item"`
	Collection     streamSlug `json:"collection"`
	Chain          string     `json:"chain"`
	EventTimestamp string     `json:"event_timestamp"`
}

// streamOrder is the fields item_listed and item_cancelled share.
type streamOrder struct {
	streamBase
	Quantity       int64              `json:"quantity"`
	ListingType    *string            `json:"listing_type"`
	ListingDate    string             `json:"listing_date"`
	ExpirationDate string             `json:"expiration_date"`
	Maker          streamAccount      `json:"maker"`
	Taker          *streamAccount     `json:"taker"`
	BasePrice      string             `json:"base_price"`
	PaymentToken   streamPaymentToken `json:"payment_token"`
	IsPrivate      bool               `json:"is_private"`
	OrderHash      string             `json:"order_hash"`
	Transaction    *streamTx          `json:"transaction,omitempty"`
}

type streamSold struct {
	streamBase
	Quantity     int64              `json:"quantity"`
	ListingType  *string            `json:"listing_type"`
	ClosingDate  string             `json:"closing_date"`
	Transaction  streamTx           `json:"transaction"`
	Maker        streamAccount      `json:"maker"`
	Taker        streamAccount      `json:"taker"`
	OrderHash    string             `json:"order_hash"`
	SalePrice    string             `json:"sale_price"`
	PaymentToken streamPaymentToken `json:"payment_token"`
	IsPrivate    bool               `json:"is_private"`
}

type streamTransferred struct {
	streamBase
	FromAccount streamAccount `json:"from_account"`
	Quantity    int64         `json:"quantity"`
	ToAccount   streamAccount `json:"to_account"`
	Transaction streamTx      `json:"transaction"`
}

type streamValidation struct {
	EventTimestamp  string      `json:"event_timestamp"`
	OrderHash       string      `json:"order_hash"`
	ProtocolAddress string      `json:"protocol_address"`
	Chain           streamChain `json:"chain"`
	Collection      streamSlug  `json:"collection"`
	Item            streamItem  `json:"item"`
}

type streamMetadataUpdate struct {
	Collection streamSlug `json:"collection"`
	Item       streamItem `json:"item"`
}

// streamMessage is BaseStreamMessage.
type streamMessage struct {
	EventType string `json:"event_type"`
	Version   int64  `json:"version"`
	SentAt    string `json:"sent_at"`
	Payload   any    `json:"payload"`
}

func streamTime(ms int64) string { return time.UnixMilli(ms).UTC().Format(streamTimeLayout) }

// paymentToken describes a listing's currency on c's chain as the stream
// does, with its eth_price (ETH: 1).
func (s *Server) paymentToken(c *collection, l *listing) streamPaymentToken {
	if l != nil && l.usdc {
		return streamPaymentToken{Address: c.cur.usdc, Decimals: usdcDecimals, EthPrice: s.usdcEth,
			Name: "USD Coin", Symbol: "USDC", UsdPrice: "1.000000000000000"}
	}
	return c.cur.streamToken()
}

func (s *Server) streamItem(r *http.Request, c *collection, i int, extended bool) streamItem {
	id := strconv.Itoa(firstTokenID + i)
	it := streamItem{
		NFTID:     c.info.Chain + "/" + c.info.Contract + "/" + id,
		Permalink: "https://opensea.io/assets/" + c.info.Chain + "/" + c.info.Contract + "/" + id,
		Metadata: streamMetadata{
			Name:        c.info.Name + " #" + id,
			ImageURL:    "https://i.seadn.io/s/raw/files/sim/" + c.info.Slug + "/" + id + ".png",
			MetadataURL: s.metadataURL(r, c, i),
		},
		Chain: streamChain{Name: c.info.Chain},
	}
	if extended {
		traits := []streamTrait{}
		for _, t := range c.tokenTraits(i) {
			v := t.Value
			st := streamTrait{TraitType: t.Type, Value: &v}
			if t.DisplayType != "" {
				d := t.DisplayType
				st.DisplayType = &d
			}
			traits = append(traits, st)
		}
		desc := c.description
		it.Metadata.Description = &desc
		it.Metadata.Traits = &traits
	}
	return it
}

// renderEvent renders one event as the Phoenix frame pushed to sub.
func (s *Server) renderEvent(r *http.Request, sub *topicSub, e *bookEvent, typ string, now time.Time) ([]byte, error) {
	c, l := sub.c, e.l
	token := e.token
	if l != nil {
		token = l.token
	}
	base := func(extended bool) streamBase {
		return streamBase{Item: s.streamItem(r, c, token, extended), Collection: streamSlug{Slug: c.info.Slug},
			Chain: c.info.Chain, EventTimestamp: streamTime(e.at)}
	}
	version := e.ver
	var payload any
	switch typ {
	case EventItemListed, EventItemCancelled:
		o := streamOrder{
			streamBase: base(false), Quantity: 1, ListingDate: streamTime(l.created),
			ExpirationDate: streamTime(l.expires + 1), Maker: streamAccount{Address: l.maker()},
			BasePrice: l.rawPrice(), PaymentToken: s.paymentToken(c, l), IsPrivate: l.private, OrderHash: orderHash(l.key),
		}
		if tk := l.taker(); l.private && tk != "" {
			o.Taker = &streamAccount{Address: tk}
		}
		payload = o
	case EventOrderInvalidate, EventOrderRevalidate:
		payload = streamValidation{EventTimestamp: streamTime(e.at), OrderHash: orderHash(l.key),
			ProtocolAddress: seaportAddress, Chain: streamChain{Name: c.info.Chain},
			Collection: streamSlug{Slug: c.info.Slug}, Item: s.streamItem(r, c, token, false)}
	case EventItemSold:
		version = e.at
		payload = streamSold{
			streamBase: base(false), Quantity: 1, ClosingDate: streamTime(e.at),
			Transaction: streamTx{Hash: l.saleTx(), Timestamp: streamTime(e.at)},
			Maker:       streamAccount{Address: l.maker()}, Taker: streamAccount{Address: l.taker()},
			OrderHash: orderHash(l.key), SalePrice: l.rawPrice(), PaymentToken: s.paymentToken(c, l),
		}
	case EventItemTransferred:
		version = e.at
		t := streamTransferred{streamBase: base(false), Quantity: 1}
		if l != nil { // the transfer of a sale
			t.FromAccount, t.ToAccount = streamAccount{Address: l.maker()}, streamAccount{Address: l.taker()}
			t.Transaction = streamTx{Hash: l.saleTx(), Timestamp: streamTime(e.at)}
		} else {
			t.FromAccount = streamAccount{Address: address(e.extra, 1)}
			t.ToAccount = streamAccount{Address: address(e.extra, 2)}
			t.Transaction = streamTx{Hash: hex256(hash(e.extra, 3)), Timestamp: streamTime(e.at)}
		}
		payload = t
	case EventItemMetadataUpdated:
		version = e.at
		payload = streamMetadataUpdate{Collection: streamSlug{Slug: c.info.Slug}, Item: s.streamItem(r, c, token, true)}
	default:
		return nil, fmt.Errorf("render stream event: unknown type %q", typ)
	}
	msg := streamMessage{EventType: typ, Version: version, SentAt: now.UTC().Format(streamTimeLayout), Payload: payload}
	frame, err := json.Marshal([]any{nil, nil, sub.topic, typ, msg})
	if err != nil {
		return nil, fmt.Errorf("render stream event %s: %w", typ, err)
	}
	return frame, nil
}
