package gdpr

import "testing"

// ordinaryMessages are the chat lines most of the inbox is made of: orders, bugs,
// billing and greetings, in the five languages the detector knows. None is a data
// request; a few mention accounts, exports or access the way customers do.
var ordinaryMessages = []string{
	// en
	"hi, my order #1234 hasn't arrived yet, can you check?",
	"the app crashes every time I open the settings page",
	"Hello! Is anyone there?",
	"where is my order? it's been 10 days",
	"I was charged twice for my subscription this month",
	"can I change the delivery address for order 55821?",
	"thanks, that fixed it :)",
	"the tracking link says the parcel is stuck in Leipzig",
	"I can't log in, the password reset email never comes",
	"do you ship to Canada?",
	"I can't access my account since the update",
	"how do I export my invoices as CSV?",
	"my discount code SPRING20 doesn't work at checkout",
	// de
	"Hallo, meine Bestellung ist immer noch nicht angekommen.",
	"Die App stürzt beim Start ab, was kann ich tun?",
	"Ich möchte meine Lieferadresse ändern, geht das noch?",
	"Danke für die schnelle Hilfe!",
	"Wann wird meine Rückerstattung überwiesen?",
	"Das Paket ist beschädigt angekommen, ich schicke Fotos.",
	// fr
	"Bonjour, ma commande n'est toujours pas arrivée.",
	"L'application plante quand j'ouvre mon panier.",
	"Je n'arrive pas à me connecter à mon compte.",
	"Merci beaucoup pour votre aide !",
	"Quand est-ce que je serai remboursé ?",
	"Le colis est arrivé abîmé, que dois-je faire ?",
	// es
	"Hola, mi pedido todavía no ha llegado.",
	"La aplicación se cierra sola cuando abro el carrito.",
	"¿Puedo cambiar la dirección de envío de mi pedido?",
	"Muchas gracias por la ayuda.",
	"Me cobraron dos veces la suscripción este mes.",
	"¿Cuándo llega el reembolso?",
	// it
	"Ciao, il mio ordine non è ancora arrivato.",
	"L'app si chiude quando apro il carrello.",
	"Non riesco ad accedere al mio account.",
	"Grazie mille per l'aiuto!",
	"Quando arriva il rimborso?",
	"Il pacco è arrivato danneggiato, cosa devo fare?",
}

func BenchmarkDetect(b *testing.B) {
	b.Run("ordinary", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			Detect("", ordinaryMessages[i%len(ordinaryMessages)])
		}
	})
	var requests []labelled
	for _, m := range loadCorpus(b) {
		if m.IsRequest {
			requests = append(requests, m)
		}
	}
	b.Run("requests", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			m := requests[i%len(requests)]
			Detect(m.Subject, m.Text)
		}
	})
}
